"""Decide which months a daily run recomputes, and remember what it has processed.

A daily run recomputes the months its data interval touches: the month still open at the end
of the interval and, on the first day of a month, the month that just closed, whose
provisional snapshot becomes final. Earlier months are recomputed only when their inputs
changed: rows extracted since the last successful run that can change a past month (late or
corrected data), a changed FX rate, or changed metric conventions (then everything). Inputs
belong to a domain (billing, product, accounts, costs, invoices), and each domain gets its own
first month, so a late product event reopens product metrics but not MRR. The plan is logged with its reasons;
each incremental model receives the bound parameter `recompute_from`, the earliest first
month of the domains it reads, and writes only the months from there to the open month.

The largest raw tables are read by change (see INCREMENTAL_SOURCES): the plan gives each of
them `changed_since`, the instant after which its records changed. Their staging models merge
only the records with a raw row extracted later, and the row accounting counts only those
records. The plan reads such a table in full (`changed_since` = -infinity) on a full rebuild,
on its first run, and when its rows up to the last watermark changed.

Watermarks (the latest `_airbyte_extracted_at` per raw table, up to the run's
`extracted_until`) are stored in analytics.pipeline_state by the last task of a successful run,
so a failed run is planned again from the same point. The plan also indexes
`_airbyte_extracted_at` of the raw tables it reads, and the keys of the incremental ones, so
that finding the new rows and their records does not read the history."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

from saas_metrics.config import MetricsConfig

log = logging.getLogger(__name__)

FULL_HISTORY_START = dt.date(1970, 1, 1)
STATE_TABLE = "analytics.pipeline_state"
WATERMARKS_KEY = "extraction_watermarks"
# Per incremental raw table, the watermark of the last successful run and the number of rows
# extracted up to it. Unlike WATERMARKS_KEY, this watermark can go back (a table reloaded).
STAGING_WATERMARKS_KEY = "staging_watermarks"
CONVENTIONS_KEY = "conventions_fingerprint"

# The inputs of the incremental models fall into domains. Each model recomputes from the
# earliest change among the domains it reads (see saas_metrics.models.sql_model), so a late
# product event does not recompute MRR, and a late invoice line does not recompute product
# metrics. "accounts" is the link of product workspaces to Stripe customers, which only
# segments read. "invoices" is what Stripe billed (invoice lines with their invoice's status
# and billing reason), which only the Stripe reconciliation reads.
DOMAINS = ("billing", "product", "accounts", "costs", "invoices")


@dataclass(frozen=True)
class TrackedSource:
    """Raw rows of one table that can change past months of one domain when they arrive late."""

    table: str
    domain: str
    # SQL expression of a row's business time (the raw row is aliased `raw`; %(time_zone)s is the
    # reporting time zone). Product timestamps are naive and may be local time, so one day is
    # taken off to cover any UTC offset.
    business_time: str
    # Optional SQL predicate on the raw row: only rows that satisfy it can change a past month.
    # It reads the staging table `requires` as the previous run left it.
    changes_past: str | None = None
    requires: str | None = None


_STAGED_WORKSPACE = "select 1 from staging.product_workspaces as staged where staged.workspace_id = raw.id"
_STAGED_CUSTOMER = (
    "(select staged.customer_id from staging.product_workspaces as staged where staged.workspace_id = raw.id)"
)
# The first month a customer paid in. One look-up per customer, so that PostgreSQL reads the
# customer's rows through the index on (customer_id, month_start) instead of every month.
_FIRST_PAID_MONTH = (
    "(select min(customer_months.month_start) from analytics.customer_mrr_monthly as customer_months "
    "where customer_months.customer_id = {customer} and customer_months.mrr > 0)"
)
# An invoice line bills, and rebuilds subscription history, from the month its period starts
# in (see sql/analytics/mrr_reconciliation.sql and sql/core/subscription_item_states.sql). A
# corrected line may have moved its period, so the earliest start over all the line's raw
# versions is taken, and for an invoice the earliest over its lines. The indexes on the raw
# lines' id and invoice_id keep these lookups cheap.
_EARLIEST_PERIOD_START = "select min(to_timestamp(analytics.try_numeric(lines.period ->> 'start')))"
_LINE_EARLIEST_START = f"({_EARLIEST_PERIOD_START} from raw_stripe.invoice_line_items as lines where lines.id = raw.id)"
_INVOICE_EARLIEST_START = (
    f"({_EARLIEST_PERIOD_START} from raw_stripe.invoice_line_items as lines where lines.invoice_id = raw.id)"
)
# Subscription history counts the lines of staged invoices that are neither draft nor void.
_VOID_OR_DRAFT = "coalesce(lower({status}) in ('draft', 'void'), false)"
TRACKED_SOURCES: tuple[TrackedSource, ...] = (
    TrackedSource("raw_stripe.subscriptions", "billing", "to_timestamp(raw.updated)"),
    TrackedSource("raw_stripe.invoice_line_items", "billing", _LINE_EARLIEST_START),
    # An invoice changes subscription history when it arrives (the lines that waited for it
    # are staged) or becomes, or stops being, draft or void. A late payment changes none.
    TrackedSource(
        "raw_stripe.invoices",
        "billing",
        _INVOICE_EARLIEST_START,
        changes_past=(
            "not exists (select 1 from staging.stripe_invoices as staged where staged.invoice_id = raw.id and "
            f"{_VOID_OR_DRAFT.format(status='staged.status')} = {_VOID_OR_DRAFT.format(status='raw.status')})"
        ),
        requires="staging.stripe_invoices",
    ),
    # A corrected event may have moved to another day: its staged copy is on the earliest day
    # of all its raw versions, which the index on the raw events' id finds.
    TrackedSource(
        "raw_product.events",
        "product",
        "((select min(versions.occurred_at) from raw_product.events as versions where versions.id = raw.id)"
        " - interval '1 day') at time zone 'UTC'",
    ),
    # A new workspace is a signup on the day it was created. A workspace extracted again with a
    # new plan tier or name changes no past number.
    TrackedSource(
        "raw_product.workspaces",
        "product",
        "(raw.created_at - interval '1 day') at time zone 'UTC'",
        changes_past=f"not exists ({_STAGED_WORKSPACE})",
        requires="staging.product_workspaces",
    ),
    # A workspace linked to another customer moves its users' activity between the customers'
    # segments, in the months either customer paid.
    TrackedSource(
        "raw_product.workspaces",
        "accounts",
        f"""least(
            {_FIRST_PAID_MONTH.format(customer="raw.stripe_customer_id")},
            {_FIRST_PAID_MONTH.format(customer=_STAGED_CUSTOMER)}
        )::timestamp at time zone %(time_zone)s""",
        changes_past=f"exists ({_STAGED_WORKSPACE} and staged.customer_id is distinct from raw.stripe_customer_id)",
        requires="staging.product_workspaces",
    ),
    # A user changes past days only as a new signup.
    TrackedSource(
        "raw_product.users",
        "product",
        "(raw.created_at - interval '1 day') at time zone 'UTC'",
        changes_past="not exists (select 1 from staging.product_users as staged where staged.user_id = raw.id)",
        requires="staging.product_users",
    ),
    TrackedSource("raw_aws_cost.cost_and_usage", "costs", "raw.time_period_start::timestamp at time zone 'UTC'"),
    TrackedSource("raw_stripe.invoice_line_items", "invoices", _LINE_EARLIEST_START),
    # A new or changed invoice (paid late, voided, or arriving after the lines that waited for
    # it) changes what its lines billed.
    TrackedSource("raw_stripe.invoices", "invoices", _INVOICE_EARLIEST_START),
)


@dataclass(frozen=True)
class IncrementalSource:
    """A raw table read by change: the row accounting counts only its changed records.

    Most of their staging models also merge only those (see merge_key in the daily DAG).
    """

    table: str
    key: str
    staged_table: str
    staged_key: str
    # Raw tables whose rows the staging model copies fields from: when one of them is read in
    # full (a row may have gone), this one is too.
    read_in_full_with: tuple[str, ...] = ()
    # Domains that recompute every month when rows up to the last watermark changed (deleted,
    # or loaded late with older extraction times), because the plan cannot tell which months
    # those rows were in.
    reopened_when_rows_changed: tuple[str, ...] = ()


INCREMENTAL_SOURCES: tuple[IncrementalSource, ...] = (
    IncrementalSource(
        "raw_stripe.subscriptions",
        "id",
        "staging.stripe_subscription_items",
        "subscription_id",
        reopened_when_rows_changed=("billing",),
    ),
    IncrementalSource(
        "raw_stripe.invoices",
        "id",
        "staging.stripe_invoices",
        "invoice_id",
        reopened_when_rows_changed=("billing", "invoices"),
    ),
    IncrementalSource(
        "raw_stripe.invoice_line_items",
        "id",
        "staging.stripe_invoice_line_items",
        "invoice_line_id",
        read_in_full_with=("raw_stripe.invoices",),
        reopened_when_rows_changed=("billing", "invoices"),
    ),
    IncrementalSource(
        "raw_product.users", "id", "staging.product_users", "user_id", reopened_when_rows_changed=("product",)
    ),
    # Events are staged by day (see the daily DAG), so only their accounting is by change, and
    # a deleted or late-loaded event (its day unknown) restages every day.
    IncrementalSource(
        "raw_product.events", "id", "staging.product_events", "event_id", reopened_when_rows_changed=("product",)
    ),
    IncrementalSource("raw_segment.tracks", "id", "staging.segment_tracks", "message_id"),
    IncrementalSource("raw_zendesk.tickets", "id", "staging.zendesk_tickets", "ticket_id"),
)
# A run also reads again the rows extracted this long before the last run's watermark, because
# a sync running during that run may have committed rows stamped earlier after the run read.
LATE_COMMIT_LOOKBACK = dt.timedelta(days=1)


@dataclass
class RecomputePlan:
    # The earliest month any domain recomputes; recompute_from_by_domain has each domain's.
    recompute_from: str
    open_month: str
    is_full_rebuild: bool
    recompute_from_by_domain: dict[str, str] = field(default_factory=dict)
    # Staging reads, and the row accounting counts, only raw rows extracted up to this instant:
    # the warehouse clock when the plan was made, or the interval end if that is later. A sync
    # landing during the run is then left whole to the next run instead of half processed.
    extracted_until: str = "infinity"
    # Per incremental raw table: the extraction instant after which its records changed, or
    # -infinity to read the whole table.
    changed_since: dict[str, str] = field(default_factory=dict)
    # Per incremental raw table: the rows extracted up to watermarks_seen, for the next plan.
    rows_seen: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    watermarks_seen: dict[str, str] = field(default_factory=dict)
    conventions_fingerprint: str = ""

    def as_xcom(self) -> dict:
        return asdict(self)


def conventions_fingerprint(config: MetricsConfig) -> str:
    """Hash of every convention that changes past numbers when it changes."""
    payload = json.dumps(
        {
            **config.sql_parameters(),
            "churn_timing": config.churn_timing,
            "timezone_corrections": [asdict(rule) for rule in config.timezone_corrections],
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def month_start(instant: dt.datetime, time_zone: str) -> dt.date:
    local = instant.astimezone(ZoneInfo(time_zone))
    return dt.date(local.year, local.month, 1)


def _table_exists(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]


def index_tables(conn) -> None:
    """Index what the plan and the incremental sources look up.

    These are the extraction time of the raw tables the plan reads, the raw and staged keys of
    the incremental sources, and the business time of the raw events. The first run on an
    existing table builds an index; later runs find it.
    """
    indexes = [(source.table, "_airbyte_extracted_at") for source in TRACKED_SOURCES]
    for source in INCREMENTAL_SOURCES:
        indexes += [(source.table, "_airbyte_extracted_at"), (source.table, source.key)]
        indexes.append((source.staged_table, source.staged_key))
    # The invoice lines merge also reads the lines of changed invoices, and the events staging
    # the raw events of its window (see sql/staging/product_events.sql).
    indexes.append(("raw_stripe.invoice_line_items", "invoice_id"))
    indexes.append(("raw_product.events", "occurred_at"))
    from saas_metrics.operators.sql_transform import create_missing_index

    for table, column in dict.fromkeys(indexes):
        if _table_exists(conn, table) and create_missing_index(conn, table, column):
            log.info("Indexed %s (%s)", table, column)


def _count_rows(conn, table: str, after: str | None, until: str) -> int:
    """Count the rows of `table` extracted in (after, until]; `after` None means from the start."""
    return conn.execute(
        f"select count(*) from {table} where _airbyte_extracted_at > %s::timestamptz "
        "and _airbyte_extracted_at <= %s::timestamptz",
        (after or "-infinity", until),
    ).fetchone()[0]


def _changed_since(
    conn, source: IncrementalSource, staged: dict, is_full: bool
) -> tuple[str, str | None, int | None]:
    """Decide how a run reads an incremental source.

    Returns changed_since, the reason to read the whole table (or None), and the number of
    rows extracted up to the last run's watermark (None when there is none).
    """
    last = staged.get(source.table)
    if not isinstance(last, dict) or not _table_exists(conn, source.staged_table):
        reason = None if is_full else f"{source.table} is read in full: no earlier run staged it"
        return "-infinity", reason, None
    rows = _count_rows(conn, source.table, None, last["watermark"])
    if is_full:
        return "-infinity", None, rows
    # NOTE: only rows up to the last successful run's watermark are counted. A record that a
    # failed run staged from newer rows, whose rows were then deleted, keeps its staged row.
    if rows != last["rows"]:
        # Rows up to the watermark were deleted, or written later with older extraction times (a
        # manual load, a restored backup). A read by change would miss them.
        return "-infinity", (
            f"{source.table} is read in full: the last run counted {last['rows']} rows extracted up to its "
            f"watermark {last['watermark']}, and there are {rows} now (rows deleted or loaded late)"
        ), rows
    since = dt.datetime.fromisoformat(last["watermark"]) - LATE_COMMIT_LOOKBACK
    return since.astimezone(dt.UTC).isoformat(), None, rows


def _read_state(conn, key: str):
    if not _table_exists(conn, STATE_TABLE):
        return None
    row = conn.execute(f"select state_value from {STATE_TABLE} where state_key = %s", (key,)).fetchone()
    return row[0] if row else None


def plan_recompute(
    conn,
    *,
    data_interval_end: dt.datetime,
    config: MetricsConfig,
    data_interval_start: dt.datetime | None = None,
) -> RecomputePlan:
    """Return the plan for a run of [data_interval_start, data_interval_end), reading state through `conn`."""
    open_month = month_start(data_interval_end - dt.timedelta(microseconds=1), config.reporting_time_zone)
    fingerprint = conventions_fingerprint(config)
    watermarks = _read_state(conn, WATERMARKS_KEY) or {}
    earliest = open_month
    reasons = [f"open month {open_month:%Y-%m}"]
    if data_interval_start is not None:
        interval_month = month_start(data_interval_start, config.reporting_time_zone)
        if interval_month < earliest:
            earliest = interval_month
            reasons.append(f"the interval starts in {interval_month:%Y-%m}, which closed during it")
    by_domain = dict.fromkeys(DOMAINS, earliest)
    is_full = False

    if not _table_exists(conn, "analytics.customer_mrr_monthly") or not conn.execute(
        "select exists (select 1 from analytics.customer_mrr_monthly)"
    ).fetchone()[0]:
        is_full, reasons = True, ["no months computed yet"]
    elif _read_state(conn, CONVENTIONS_KEY) != fingerprint:
        is_full, reasons = True, ["metric conventions changed since the last run"]

    index_tables(conn)
    # The interval end when it is later than the clock: a demo run for a future day.
    extracted_until = conn.execute("select greatest(clock_timestamp(), %s)", (data_interval_end,)).fetchone()[0]
    # A watermark never passes what the run reads: a row stamped after extracted_until (a clock
    # ahead, a hand-made row) would otherwise move it into the future, and no later row would
    # count as new until that time.
    seen = {}
    for table in dict.fromkeys([source.table for source in TRACKED_SOURCES + INCREMENTAL_SOURCES]):
        if _table_exists(conn, table):
            seen_max = conn.execute(
                f"select max(_airbyte_extracted_at) from {table} where _airbyte_extracted_at <= %s", (extracted_until,)
            ).fetchone()[0]
            if seen_max is not None:
                seen[table] = seen_max.isoformat()

    for source in TRACKED_SOURCES:
        table = source.table
        if not _table_exists(conn, table):
            continue
        if is_full:
            continue
        # A table that was empty at the last successful run has no watermark: all its rows are new.
        since = watermarks.get(table, "-infinity")
        relevant = source.changes_past if source.requires is None or _table_exists(conn, source.requires) else None
        new_rows, changing_rows, first_time = conn.execute(
            f"""
            select count(*), count(*) filter (where {relevant or 'true'}),
                min({source.business_time}) filter (where {relevant or 'true'})
            from {table} as raw
            where raw._airbyte_extracted_at > %(since)s::timestamptz
            """,
            {"since": since, "time_zone": config.reporting_time_zone},
        ).fetchone()
        if not changing_rows:
            continue
        first_month = month_start(first_time, config.reporting_time_zone) if first_time is not None else None
        log.info(
            "%s: %d rows extracted since %s, %d of them can change past %s data%s",
            table,
            new_rows,
            since,
            changing_rows,
            source.domain,
            f", earliest in {first_month:%Y-%m}" if first_month else "",
        )
        if first_month is not None and first_month < by_domain[source.domain]:
            by_domain[source.domain] = first_month
            rows = "1 late or corrected row" if changing_rows == 1 else f"{changing_rows} late or corrected rows"
            reasons.append(f"{rows} in {table} reopen {source.domain} from {first_month:%Y-%m}")

    if not is_full and all(
        _table_exists(conn, table)
        for table in ("staging.fx_rates_monthly", "staging.currencies", "raw_finance.fx_rates_monthly")
    ):
        # The raw rates staging would keep (see sql/staging/fx_rates_monthly.sql), so that a
        # quarantined rate does not count as a change on every run.
        changed_month = conn.execute(
            """
            with raw as (
                select
                    date_trunc('month', month)::date as month_start,
                    lower(currency) as currency,
                    min(rate_to_usd) as rate_to_usd
                from raw_finance.fx_rates_monthly
                where rate_to_usd > 0 and lower(currency) in (select currency from staging.currencies)
                group by 1, 2
                having count(distinct rate_to_usd) = 1
            )
            select min(coalesce(staged.month_start, raw.month_start))
            from staging.fx_rates_monthly as staged
            full outer join raw
                on staged.month_start = raw.month_start
                and staged.currency = raw.currency
            where staged.rate_to_usd is distinct from raw.rate_to_usd
            """
        ).fetchone()[0]
        if changed_month is not None and changed_month < by_domain["billing"]:
            by_domain["billing"] = changed_month
            reasons.append(f"FX rates changed from {changed_month:%Y-%m}")

    staged = _read_state(conn, STAGING_WATERMARKS_KEY) or {}
    changed_since, rows_seen = {}, {}
    for source in INCREMENTAL_SOURCES:
        changed_since[source.table], rebuild, rows = _changed_since(conn, source, staged, is_full)
        if rebuild:
            reasons.append(rebuild)
        # A reason with a row count means that rows up to the last watermark changed.
        if rebuild and rows is not None:
            for domain in source.reopened_when_rows_changed:
                by_domain[domain] = FULL_HISTORY_START
                reasons.append(f"{domain} recomputes every month: rows of {source.table} changed in the past")
        if source.table in seen:
            # The rows up to this run's watermark: those up to the last one plus the new ones.
            previous = staged[source.table]["watermark"] if rows is not None else None
            rows_seen[source.table] = (rows or 0) + _count_rows(conn, source.table, previous, seen[source.table])

    for source in INCREMENTAL_SOURCES:
        full_with = [other for other in source.read_in_full_with if changed_since[other] == "-infinity"]
        if full_with and changed_since[source.table] != "-infinity":
            changed_since[source.table] = "-infinity"
            reasons.append(f"{source.table} is read in full with {', '.join(full_with)}, whose fields it copies")

    if is_full:
        by_domain = dict.fromkeys(DOMAINS, FULL_HISTORY_START)
    recompute_from = min(by_domain.values())
    plan = RecomputePlan(
        recompute_from=recompute_from.isoformat(),
        open_month=open_month.isoformat(),
        is_full_rebuild=is_full,
        recompute_from_by_domain={domain: month.isoformat() for domain, month in by_domain.items()},
        extracted_until=extracted_until.isoformat(),
        changed_since=changed_since,
        rows_seen=rows_seen,
        reasons=reasons,
        watermarks_seen=seen,
        conventions_fingerprint=fingerprint,
    )
    log.info(
        "Recompute plan: %s to %s (%s)",
        "full rebuild from the first month of data"
        if is_full
        else "months from "
        + ", ".join(
            f"{'the first month of data' if month == FULL_HISTORY_START else f'{month:%Y-%m}'} ({domain})"
            for domain, month in by_domain.items()
        ),
        f"{open_month:%Y-%m}",
        "; ".join(reasons),
    )
    return plan


def save_pipeline_state(conn, plan: dict) -> None:
    """Store the watermarks and conventions a successful run processed."""
    conn.execute(
        f"""
        create table if not exists {STATE_TABLE} (
            state_key text primary key,
            state_value jsonb not null,
            updated_at timestamptz not null default now()
        )
        """
    )
    stored = _read_state(conn, WATERMARKS_KEY) or {}
    # Never move a watermark backwards: a backfill of an old day reads fewer rows than a later run.
    merged = {
        table: max(value, stored.get(table, value)) for table, value in plan["watermarks_seen"].items()
    }
    staging = {
        table: {"watermark": plan["watermarks_seen"][table], "rows": rows}
        for table, rows in plan.get("rows_seen", {}).items()
    }
    for key, value in (
        (WATERMARKS_KEY, merged),
        (STAGING_WATERMARKS_KEY, staging),
        (CONVENTIONS_KEY, plan["conventions_fingerprint"]),
    ):
        conn.execute(
            f"""
            insert into {STATE_TABLE} (state_key, state_value, updated_at) values (%s, %s::jsonb, now())
            on conflict (state_key) do update set state_value = excluded.state_value, updated_at = now()
            """,
            (key, json.dumps(value)),
        )
    conn.commit()
    log.info("Saved pipeline state: watermarks for %d raw tables", len(merged))
