"""The product database: workspaces, users and usage events.

Workspaces and users are small and built row by row. Events dominate the data set, so each day
is drawn with numpy in one pass. Sessions per workspace come from a Poisson draw proportional
to the workspace's seats. Each session then expands into session_start, feature events,
heartbeats every 5 minutes and session_end.
"""

from __future__ import annotations

import bisect

import numpy as np

from include.demo_data import names
from include.demo_data.envelope import APP_WRITER, MAX_LAG_SECONDS, MIN_LAG_SECONDS, pacific_wall_clock
from include.demo_data.model import Company, Customer, Signup, Workspace
from include.demo_data.seeding import DAY, random_uuid_bits, rng_for

FEATURE_EVENTS = (
    "dashboard_view",
    "report_create",
    "export_csv",
    "invite_user",
    "integration_connect",
    "alert_create",
    "api_call",
    "filter_apply",
)
FEATURE_WEIGHTS = np.array([0.30, 0.06, 0.05, 0.02, 0.015, 0.025, 0.33, 0.20])
EVENT_NAMES = ("session_start", "session_end", "heartbeat") + FEATURE_EVENTS
HEARTBEAT_SECONDS = 300

# jsonb payloads per event name; each event takes one at random.
_PROPERTIES = {
    "session_start": ('{"client": "web"}', '{"client": "desktop"}', '{"client": "mobile"}'),
    "session_end": ('{"reason": "logout"}', '{"reason": "timeout"}'),
    "heartbeat": ("{}",),
    "dashboard_view": ('{"dashboard": "revenue"}', '{"dashboard": "pipeline"}', '{"dashboard": "ops"}'),
    "report_create": ('{"report_type": "table"}', '{"report_type": "chart"}'),
    "export_csv": ('{"rows": 1000}', '{"rows": 25000}'),
    "invite_user": ('{"role": "member"}', '{"role": "viewer"}'),
    "integration_connect": (
        '{"integration": "slack"}',
        '{"integration": "salesforce"}',
        '{"integration": "bigquery"}',
    ),
    "alert_create": ('{"channel": "email"}', '{"channel": "slack"}'),
    "api_call": (
        '{"endpoint": "/v1/metrics", "status": 200}',
        '{"endpoint": "/v1/reports", "status": 200}',
        '{"endpoint": "/v1/metrics", "status": 429}',
    ),
    "filter_apply": ('{"field": "date"}', '{"field": "region"}', '{"field": "owner"}'),
}
PROPERTY_TEXTS = tuple(text for event in EVENT_NAMES for text in _PROPERTIES[event])
_PROPERTY_FIRST = np.cumsum([0] + [len(_PROPERTIES[event]) for event in EVENT_NAMES])[:-1]
_PROPERTY_COUNT = np.array([len(_PROPERTIES[event]) for event in EVENT_NAMES])

# Relative activity by weekday, Monday first.
WEEKDAY_FACTOR = np.array([1.08, 1.12, 1.12, 1.08, 0.98, 0.32, 0.30])
ROLES = (("admin", 0.12), ("member", 0.68), ("viewer", 0.20))
_ROLE_THRESHOLDS = tuple(zip([r for r, _ in ROLES], np.cumsum([w for _, w in ROLES]).tolist(), strict=True))


_CUMULATIVE_WEIGHTS: dict[tuple, list[float]] = {}


def pick(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    """Draw one value from (value, weight) pairs."""
    cumulative = _CUMULATIVE_WEIGHTS.get(options)
    if cumulative is None:
        total = sum(weight for _, weight in options)
        cumulative = list(np.cumsum([weight / total for _, weight in options]))
        _CUMULATIVE_WEIGHTS[options] = cumulative
    return options[min(bisect.bisect_right(cumulative, rng.random()), len(options) - 1)][0]


def company_name(rng: np.random.Generator) -> tuple[str, str]:
    """Return a fake company name and its e-mail domain."""
    word = names.COMPANY_WORDS[int(rng.integers(len(names.COMPANY_WORDS)))]
    kind = names.COMPANY_KINDS[int(rng.integers(len(names.COMPANY_KINDS)))]
    number = int(rng.integers(10, 1000))
    return f"{word} {kind}", f"{word.lower()}{kind.lower()}{number}.example"


def create_workspace(company: Company, created: int, name: str, domain: str, country: str) -> Workspace:
    workspace = Workspace(
        index=len(company.workspaces),
        id=company.next_workspace_id,
        name=name,
        domain=domain,
        country=country,
        created=created,
        updated=created,
    )
    company.next_workspace_id += 1
    company.workspaces.append(workspace)
    return workspace


def emit_workspace(company: Company, workspace: Workspace, updated: int, cursor: int | None = None) -> None:
    """Queue a workspaces row for the workspace's current state; `cursor` defaults to `updated`."""
    workspace.updated = updated
    customer_id = workspace.customer.id if workspace.customer is not None else None
    row = (
        workspace.id,
        workspace.name,
        customer_id,
        workspace.plan_tier,
        workspace.country,
        APP_WRITER,
        workspace.created,
        updated,
    )
    company.emit("raw_product.workspaces", row, updated if cursor is None else cursor)


def update_workspace_tier(company: Company, customer: Customer, time: int) -> None:
    """Write a new workspace version when the customer's plan tier changed."""
    workspace = customer.workspace
    tier = customer.plan_tier()
    if workspace.customer is not customer or tier != workspace.plan_tier:
        workspace.customer = customer
        workspace.plan_tier = tier
        emit_workspace(company, workspace, time)


def add_users(
    company: Company,
    workspace: Workspace,
    count: int,
    created_from: int,
    created_to: int,
    first_month: int,
    cursor: int | None = None,
    last_seen: int | None = None,
) -> None:
    """Create `count` users with creation times in [created_from, created_to] and queue their rows."""
    if count <= 0:
        return
    rng = company.rng
    users = company.users
    for _ in range(count):
        first = names.FIRST_NAMES[rng.integers(len(names.FIRST_NAMES))]
        last = names.LAST_NAMES[rng.integers(len(names.LAST_NAMES))]
        created = rng.integers(created_from, max(created_from, created_to) + 1)
        role = "owner" if not workspace.user_indexes else _role(rng.random())
        ip_draw = rng.integers(3 * 254)
        user_id = company.next_user_id
        company.next_user_id += 1
        index = len(users)
        users.ids.append(user_id)
        users.workspace_index.append(workspace.index)
        users.email.append(f"{first.lower()}.{last.lower()}{user_id % 1000}@{workspace.domain}")
        users.full_name.append(f"{first} {last}")
        users.role.append(role)
        users.ip_address.append(names.IP_PREFIXES[ip_draw % 3] + str(1 + ip_draw // 3))
        users.created.append(created)
        users.first_month.append(first_month)
        workspace.user_indexes.append(index)
        seen = created if last_seen is None else max(created, last_seen)
        emit_user(company, index, seen, created if cursor is None else cursor)


def _role(draw: float) -> str:
    for role, threshold in _ROLE_THRESHOLDS:
        if draw < threshold:
            return role
    return ROLES[-1][0]


def emit_user(company: Company, index: int, last_seen: int, cursor: int) -> None:
    users = company.users
    workspace = company.workspaces[users.workspace_index[index]]
    row = (
        users.ids[index],
        workspace.id,
        users.email[index],
        users.full_name[index],
        users.role[index],
        users.ip_address[index],
        APP_WRITER,
        users.created[index],
        last_seen,
    )
    company.emit("raw_product.users", row, cursor)


def users_for_seats(rng: np.random.Generator, seats: int, per_seat: float) -> int:
    """Return how many product users a paying workspace with `seats` seats has."""
    return max(1, int(round(seats * per_seat * rng.uniform(0.6, 1.4))))


def free_user_count(rng: np.random.Generator) -> int:
    return 1 + int(rng.poisson(1.0))


def create_free_workspace(
    company: Company, created: int, first_month: int, cursor: int | None = None, last_seen: int | None = None
) -> Workspace:
    rng = company.rng
    name, domain = company_name(rng)
    workspace = create_workspace(company, created, name, domain, pick(rng, names.FREE_COUNTRIES))
    emit_workspace(company, workspace, created, cursor)
    add_users(
        company, workspace, free_user_count(rng), created, created + 600, first_month, cursor, last_seen
    )
    return workspace


def run_free_signups(company: Company) -> None:
    """Create this month's new free workspaces, spread uniformly over the month."""
    rng = company.rng
    count = int(rng.poisson(company.rates.free_workspaces_per_month * company.scale))
    times = np.sort(rng.integers(company.month_start, company.month_end, size=count))
    for created in times.tolist():
        workspace = create_free_workspace(company, created, company.month_key)
        owner = company.users.ids[workspace.user_indexes[0]]
        company.signups.append(Signup(created, "signup_completed", owner, workspace.id, "free"))


def activity_weights(company: Company) -> np.ndarray:
    """Return each workspace's expected activity: seats when live, a fraction of its users otherwise.

    Also stores the live workspaces and their seats in `company.live_workspaces`.
    """
    users = np.array([len(w.user_indexes) for w in company.workspaces], dtype=float)
    weights = 0.5 * users
    live_workspaces = []
    for customer in company.customers:
        index = customer.workspace.index
        live = customer.live_subscriptions()
        if live:
            seats = max(customer.seats(live), 1)
            weights[index] = seats
            live_workspaces.append((customer.workspace, seats))
        else:
            weights[index] = 0.3 * users[index]
    company.live_workspaces = live_workspaces
    return weights


def run_events(company: Company, start_weights: np.ndarray) -> float:
    """Draw the month's events day by day and store them as one batch; return the total activity.

    Workspaces that existed at the start of the month keep their activity of that time for the
    whole month. Workspaces created during the month use their activity at the month's end and
    become active on the day after their creation.
    """
    workspace_count = len(company.workspaces)
    end_weights = activity_weights(company)
    company.activity_weights = end_weights
    weights = end_weights.copy()
    weights[: len(start_weights)] = start_weights
    created_day = np.array([w.created // DAY for w in company.workspaces], dtype=np.int64)
    workspace_ids = np.array([w.id for w in company.workspaces], dtype=np.int64)

    users = company.users
    eligible = np.flatnonzero(np.asarray(users.first_month) <= company.month_key)
    user_workspace = np.asarray(users.workspace_index, dtype=np.int64)[eligible]
    order = np.argsort(user_workspace, kind="stable")
    pool = eligible[order]
    counts = np.bincount(user_workspace, minlength=workspace_count)
    starts = np.cumsum(counts) - counts
    weights[counts == 0] = 0.0
    rate = company.rates.sessions_per_seat_day

    batches = []
    seen_users, seen_times = [], []
    first_day = company.month_start // DAY
    last_day = company.month_end // DAY
    for day in range(first_day, last_day):
        rng = rng_for(company.seed, "events", day)
        day_weights = np.where(created_day < day, weights, 0.0) * rate * WEEKDAY_FACTOR[(day + 3) % 7]
        batch = _draw_day(
            rng, day * DAY, day_weights, pool, starts, counts, company.rates.legacy_writer_share
        )
        batch["workspace_id"] = workspace_ids[batch.pop("workspace_index")]
        batches.append(batch)
        seen_users.append(batch.pop("session_users"))
        seen_times.append(batch.pop("session_starts"))

    merged = {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    count = len(merged["occurred"])
    merged["id"] = np.arange(company.next_event_id, company.next_event_id + count, dtype=np.int64)
    company.next_event_id += count
    merged["user_id"] = np.asarray(users.ids, dtype=np.int64)[merged.pop("user_index")]
    local = merged["occurred"].copy()
    local[merged["legacy"]] = pacific_wall_clock(local[merged["legacy"]])
    merged["occurred_local"] = local
    company.event_batches.append(merged)

    _emit_last_seen(company, seen_users, seen_times)
    return float(weights.sum())


def _draw_day(rng, day_start, day_weights, pool, starts, counts, legacy_share) -> dict[str, np.ndarray]:
    sessions = rng.poisson(day_weights)
    workspace_index = np.repeat(np.arange(len(day_weights)), sessions)
    session_count = len(workspace_index)
    # Users are ordered by creation within a workspace. Squaring the uniform draw gives the
    # earlier users (owners and early admins) most of the sessions, as power users have.
    position = (rng.random(session_count) ** 2 * counts[workspace_index]).astype(np.int64)
    user_index = pool[starts[workspace_index] + position]
    time_of_day = rng.normal(15.5 * 3600, 3.5 * 3600, session_count).astype(np.int64) % DAY
    duration = np.clip(rng.exponential(1200.0, session_count), 60, 3 * 3600).astype(np.int64)
    feature_count = rng.poisson(3.0, session_count)
    per_session = 2 + feature_count + duration // HEARTBEAT_SECONDS

    total = int(per_session.sum())
    session = np.repeat(np.arange(session_count), per_session)
    position = np.arange(total) - (np.cumsum(per_session) - per_session)[session]
    features = feature_count[session]
    is_start = position == 0
    is_end = position == per_session[session] - 1
    is_feature = (position >= 1) & (position <= features) & ~is_end
    is_heartbeat = ~(is_start | is_end | is_feature)

    offset = np.zeros(total, dtype=np.int64)
    offset[is_end] = duration[session][is_end]
    offset[is_feature] = (rng.random(int(is_feature.sum())) * duration[session][is_feature]).astype(np.int64)
    offset[is_heartbeat] = (position[is_heartbeat] - features[is_heartbeat]) * HEARTBEAT_SECONDS

    name_code = np.full(total, 2, dtype=np.int8)
    name_code[is_start] = 0
    name_code[is_end] = 1
    name_code[is_feature] = 3 + rng.choice(
        len(FEATURE_EVENTS), size=int(is_feature.sum()), p=FEATURE_WEIGHTS / FEATURE_WEIGHTS.sum()
    )
    property_code = _PROPERTY_FIRST[name_code] + (rng.random(total) * _PROPERTY_COUNT[name_code]).astype(
        np.int64
    )

    occurred = day_start + time_of_day[session] + offset
    lags = rng.integers(MIN_LAG_SECONDS, MAX_LAG_SECONDS + 1, size=total)
    return {
        "workspace_index": workspace_index[session],
        "user_index": user_index[session],
        "name_code": name_code,
        "property_code": property_code.astype(np.int16),
        "legacy": rng.random(total) < legacy_share,
        "occurred": occurred,
        "extracted": occurred + lags,
        "raw_bits": random_uuid_bits(rng, total),
        "session_users": user_index,
        "session_starts": day_start + time_of_day,
    }


def _emit_last_seen(company: Company, seen_users: list[np.ndarray], seen_times: list[np.ndarray]) -> None:
    """Queue a users row for each user's first session in each week (weeks start on Monday, UTC).

    This models a product that writes last_seen_at at most once a week per user, read by a
    daily incremental sync on that cursor.
    """
    users = company.users
    seen_week = company.user_seen_week
    if len(seen_week) < len(users):
        seen_week = np.concatenate([seen_week, np.full(len(users) - len(seen_week), -1, dtype=np.int64)])
    session_users = np.concatenate(seen_users)
    session_times = np.concatenate(seen_times)
    order = np.lexsort((session_times, session_users))
    session_users, session_times = session_users[order], session_times[order]
    weeks = (session_times // DAY - 4) // 7  # day 4 after the unix epoch was a Monday
    first = np.r_[True, (session_users[1:] != session_users[:-1]) | (weeks[1:] != weeks[:-1])]
    first &= weeks > seen_week[session_users]
    index_list, time_list = session_users[first].tolist(), session_times[first].tolist()
    seen_week[session_users[first]] = weeks[first]
    company.user_seen_week = seen_week

    workspace_ids = [company.workspaces[users.workspace_index[index]].id for index in index_list]
    rows = [
        (
            users.ids[index],
            workspace_id,
            users.email[index],
            users.full_name[index],
            users.role[index],
            users.ip_address[index],
            APP_WRITER,
            users.created[index],
            seen,
        )
        for index, workspace_id, seen in zip(index_list, workspace_ids, time_list, strict=True)
    ]
    company.buffers["raw_product.users"].add_many(rows, time_list)
