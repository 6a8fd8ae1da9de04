"""The smaller sources: Segment tracks from the marketing site, Zendesk tickets and AWS daily costs."""

from __future__ import annotations

import json

import numpy as np

from include.demo_data import names
from include.demo_data.model import Company
from include.demo_data.seeding import DAY, day_string, format_uuids, random_uuid_bits, rng_for
from include.demo_data.textcopy import NULL, epoch_text, render_epoch

SITE = "https://www.cloudflow.example"

# Service, share of the daily bill, price per usage unit in USD (for usage_quantity).
AWS_SERVICES = (
    ("Amazon EC2", 0.38, 0.085),
    ("Amazon RDS", 0.22, 0.17),
    ("Amazon S3", 0.08, 0.023),
    ("Amazon CloudFront", 0.09, 0.085),
    ("AWS Lambda", 0.05, 0.20),
    ("Amazon ElastiCache", 0.10, 0.068),
    ("AWS Data Transfer", 0.08, 0.09),
)
# Daily cost at scale 1: a fixed base plus a cost per unit of product activity (about one seat).
AWS_FIXED_USD_PER_DAY = 200.0
AWS_USD_PER_ACTIVITY_DAY = 0.028
# The custom ticket field that stores the product workspace id.
ZENDESK_WORKSPACE_FIELD_ID = 360001
# Zendesk users and organizations get their own ids, derived from product user and workspace ids.
ZENDESK_USER_ID_BASE = 9_000_000_000
ZENDESK_ORGANIZATION_ID_BASE = 8_000_000


# --- Segment -------------------------------------------------------------------------------------


def run_segment_month(company: Company, months_elapsed: int) -> None:
    """Queue the month's marketing-site tracks: anonymous page views and the sign-up funnel."""
    rng = rng_for(company.seed, "segment", company.month_key)
    start, end = company.month_start, company.month_end
    growth = 1.0 + 0.012 * months_elapsed
    visitors = int(rng.poisson(company.rates.visitors_per_month * company.scale * growth))
    pages = 1 + rng.poisson(1.8, size=visitors)
    first_visit = rng.integers(start, end, size=visitors)
    visitor_ids = format_uuids(random_uuid_bits(rng, visitors)).tolist()

    # Page views: each visitor reads `pages` pages, 10 s to 5 min apart.
    visitor = np.repeat(np.arange(visitors), pages)
    steps = rng.integers(10, 300, size=len(visitor))
    before = np.cumsum(steps) - steps
    first_view = np.cumsum(pages) - pages
    view_times = first_visit[visitor] + before - before[first_view][visitor]
    view_pages = rng.integers(0, len(names.SITE_PAGES), size=len(visitor))
    tracks = [
        (visitor_ids[v], None, "page_viewed", t, names.SITE_PAGES[p], f'{{"path":"{names.SITE_PAGES[p]}"}}')
        for v, t, p in zip(visitor.tolist(), view_times.tolist(), view_pages.tolist(), strict=True)
    ]

    signups = sorted(company.signups, key=lambda s: (s.time, s.workspace_id, s.event))
    signup_ids = format_uuids(random_uuid_bits(rng, len(signups))).tolist()
    lead_times = rng.integers(120, 1800, size=len(signups)).tolist()
    for signup, anonymous_id, lead in zip(signups, signup_ids, lead_times, strict=True):
        user_id = str(signup.user_id)
        if signup.event == "trial_started":
            properties = f'{{"plan":"{signup.plan}","trial_days":{company.rates.trial_days}}}'
            tracks.append((anonymous_id, user_id, "trial_started", signup.time, "/app/billing", properties))
            continue
        started = max(start, signup.time - lead)
        tracks.append(
            (anonymous_id, None, "page_viewed", max(start, started - 60), "/pricing", '{"path":"/pricing"}')
        )
        tracks.append(
            (anonymous_id, None, "signup_started", started, "/signup", f'{{"plan":"{signup.plan}"}}')
        )
        tracks.append(
            (
                anonymous_id,
                user_id,
                "signup_completed",
                signup.time,
                "/signup",
                f'{{"plan":"{signup.plan}","workspace_id":"{signup.workspace_id}"}}',
            )
        )

    count = len(tracks)
    message_ids = format_uuids(random_uuid_bits(rng, count)).tolist()
    received = (
        np.array([track[3] for track in tracks], dtype=np.int64) + rng.integers(0, 90, size=count)
    ).tolist()
    draws = rng.integers(0, 1 << 30, size=(count, 3)).tolist()
    rows = []
    for track, message_id, received_at, (ip_draw, referrer_draw, agent_draw) in zip(
        tracks, message_ids, received, draws, strict=True
    ):
        anonymous_id, user_id, event, time, page, properties = track
        ip = names.IP_PREFIXES[ip_draw % 3] + str(1 + ip_draw // 3 % 254)
        referrer = names.REFERRERS[referrer_draw % len(names.REFERRERS)]
        agent = names.USER_AGENTS[agent_draw % len(names.USER_AGENTS)]
        # The word lists contain no quotes or backslashes, so plain formatting gives valid JSON.
        context = (
            f'{{"ip":"{ip}","library":{{"name":"analytics.js","version":"5.2.0"}},'
            f'"page":{{"path":"{page}","referrer":"{referrer}","url":"{SITE}{page}"}},"userAgent":"{agent}"}}'
        )
        rows.append((message_id, anonymous_id, user_id, event, time, received_at, context, properties))
    # Written straight in COPY text: every value is an id, a timestamp or ASCII from the word lists.
    times = render_epoch(np.array([row[4] for row in rows], dtype=np.int64), "+00").tolist()
    received_texts = render_epoch(np.array(received, dtype=np.int64), "+00").tolist()
    rows = [
        f"{m}\t{a}\t{NULL if u is None else u}\t{e}\t{t}\t{r}\t{c}\t{p}"
        for (m, a, u, e, _, _, c, p), t, r in zip(rows, times, received_texts, strict=True)
    ]
    company.buffers["raw_segment.tracks"].add_many(rows, received)


# --- Zendesk -------------------------------------------------------------------------------------


def run_zendesk_month(company: Company) -> None:
    """Queue the month's tickets; each saved state (open, pending, solved, closed) is one row."""
    rng = rng_for(company.seed, "zendesk", company.month_key)
    paying = [workspace for workspace, _ in company.live_workspaces if workspace.user_indexes]
    seats = [seat_count for workspace, seat_count in company.live_workspaces if workspace.user_indexes]
    free = [w for w in company.workspace_free_list() if w.user_indexes]
    if not paying:
        return
    seats = np.sqrt(np.array(seats, dtype=float))
    count = int(rng.poisson(company.rates.tickets_per_customer_month * len(paying)))
    created_times = np.sort(rng.integers(company.month_start, company.month_end, size=count)).tolist()
    from_free = (rng.random(count) < 0.15) & bool(free)
    paying_pick = rng.choice(len(paying), size=count, p=seats / seats.sum()).tolist()
    free_pick = rng.integers(0, max(len(free), 1), size=count).tolist()
    types = rng.choice(4, size=count, p=[0.45, 0.25, 0.15, 0.15]).tolist()
    priorities = rng.choice(4, size=count, p=[0.25, 0.55, 0.15, 0.05]).tolist()
    channels = rng.choice(3, size=count, p=[0.55, 0.40, 0.05]).tolist()
    tag_picks = rng.integers(0, len(names.TICKET_TAGS), size=(count, 2)).tolist()
    opened_after = rng.integers(600, 8 * 3600, size=count).tolist()
    solved_after = rng.lognormal(np.log(20 * 3600), 1.0, size=count).astype(np.int64).tolist()
    pending = (rng.random(count) < 0.10).tolist()
    draws = rng.random((count, 2)).tolist()

    for i, created in enumerate(created_times):
        workspace = free[free_pick[i]] if from_free[i] else paying[paying_pick[i]]
        users = workspace.user_indexes
        requester = company.users.ids[users[int(draws[i][0] * len(users))]]
        ticket_type = ("question", "incident", "problem", "task")[types[i]]
        subjects = names.TICKET_SUBJECTS[ticket_type]
        tags = sorted({names.TICKET_TAGS[t] for t in tag_picks[i]})
        ticket_id = company.next_ticket_id
        company.next_ticket_id += 1
        created_text = epoch_text(created)
        # Rows go straight to COPY text: the subjects and tags contain no tab, newline or backslash.
        priority = ("low", "normal", "high", "urgent")[priorities[i]]
        subject = subjects[int(draws[i][1] * len(subjects))]
        via = f'{{"channel": "{("email", "web", "api")[channels[i]]}", "source": {{"rel": null}}}}'
        custom_fields = f'[{{"id": {ZENDESK_WORKSPACE_FIELD_ID}, "value": "{workspace.id}"}}]'
        details = (
            f"{priority}\t{ticket_type}\t{subject}\t{ZENDESK_USER_ID_BASE + requester}\t"
            f"{ZENDESK_ORGANIZATION_ID_BASE + workspace.id}\t{via}\t{json.dumps(tags)}\t{custom_fields}"
        )
        opened = created + opened_after[i]
        solved = opened + solved_after[i]
        states = [("open", opened)]
        if pending[i]:
            states.append(("pending", (opened + solved) // 2))
        states += [("solved", solved), ("closed", solved + 4 * DAY)]
        for status, updated in states:
            company.emit(
                "raw_zendesk.tickets",
                f"{ticket_id}\t{created_text}\t{epoch_text(updated)}\t{status}\t{details}",
                updated,
            )


# --- AWS Cost Explorer ---------------------------------------------------------------------------


def _sync_time(seed: int, day: int) -> int:
    """Return when the daily cost sync ran on `day` (1 to 6 hours after midnight UTC)."""
    return day * DAY + int(rng_for(seed, "aws_sync", day).integers(3600, 6 * 3600))


def run_aws_month(company: Company, activity: float) -> None:
    """Queue daily costs per service; each day is synced twice, estimated and then final.

    The sync that runs early on day D reads day D as an estimate (the cost so far, `estimated`
    true) and day D-1 as final. Both rows land in the table, as an append sync writes them.
    """
    daily_base = AWS_FIXED_USD_PER_DAY * company.scale + AWS_USD_PER_ACTIVITY_DAY * activity
    for day in range(company.month_start // DAY, company.month_end // DAY):
        rng = rng_for(company.seed, "aws", day)
        total = daily_base * (0.97 if (day + 3) % 7 >= 5 else 1.0) * float(rng.lognormal(0.0, 0.04))
        shares = np.array([s[1] for s in AWS_SERVICES]) * rng.lognormal(0.0, 0.05, size=len(AWS_SERVICES))
        costs = total * shares / shares.sum()
        estimate_sync = _sync_time(company.seed, day)
        final_sync = _sync_time(company.seed, day + 1)
        fraction_of_day = (estimate_sync - day * DAY) / DAY
        start_text, end_text = day_string(day * DAY), day_string((day + 1) * DAY)
        for (service, _, unit_price), cost in zip(AWS_SERVICES, costs.tolist(), strict=True):
            for amount, estimated, extracted in (
                (cost * fraction_of_day, True, estimate_sync),
                (cost, False, final_sync),
            ):
                row = (
                    start_text,
                    end_text,
                    service,
                    f"{amount:.6f}",
                    f"{amount / unit_price:.6f}",
                    "USD",
                    estimated,
                )
                company.emit("raw_aws_cost.cost_and_usage", row, extracted, extracted)
