"""Decide which months a daily run recomputes, and remember what it has processed.

A daily run recomputes the months its data interval touches: the month still open at the end
of the interval and, on the first day of a month, the month that just closed, whose
provisional snapshot becomes final. Earlier months are recomputed only when their inputs
changed: rows extracted since the last successful run
whose business time falls in an earlier month (late or corrected data), a changed FX rate, or
changed metric conventions. The plan is logged with its reasons; the models receive it as
the bound parameter `recompute_from` (first month to rewrite) and write only the months from
there to the open month.

Watermarks (the latest `_airbyte_extracted_at` seen per raw table) are stored in
analytics.pipeline_state by the last task of a successful run, so a failed run is planned
again from the same point.
"""

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
CONVENTIONS_KEY = "conventions_fingerprint"

# Raw tables whose late rows can change past months, with the SQL expression of each row's
# business time. Product timestamps are naive and may be local time, so one day is taken off
# to cover any UTC offset.
TRACKED_SOURCES: dict[str, str] = {
    "raw_stripe.subscriptions": "to_timestamp(updated)",
    "raw_stripe.invoice_line_items": "to_timestamp(analytics.try_numeric(period ->> 'start'))",
    "raw_product.events": "(occurred_at - interval '1 day') at time zone 'UTC'",
    "raw_product.workspaces": "(created_at - interval '1 day') at time zone 'UTC'",
    "raw_aws_cost.cost_and_usage": "time_period_start::timestamp at time zone 'UTC'",
}


@dataclass
class RecomputePlan:
    recompute_from: str
    open_month: str
    is_full_rebuild: bool
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
    is_full = False

    if not _table_exists(conn, "analytics.customer_mrr_monthly") or not conn.execute(
        "select exists (select 1 from analytics.customer_mrr_monthly)"
    ).fetchone()[0]:
        is_full, reasons = True, ["no months computed yet"]
    elif _read_state(conn, CONVENTIONS_KEY) != fingerprint:
        is_full, reasons = True, ["metric conventions changed since the last run"]

    seen = {}
    for table, business_time in TRACKED_SOURCES.items():
        if not _table_exists(conn, table):
            continue
        seen_max = conn.execute(f"select max(_airbyte_extracted_at) from {table}").fetchone()[0]
        if seen_max is not None:
            seen[table] = seen_max.isoformat()
        if is_full or table not in watermarks:
            continue
        new_rows, first_time = conn.execute(
            f"select count(*), min({business_time}) from {table} where _airbyte_extracted_at > %s",
            (watermarks[table],),
        ).fetchone()
        if new_rows and first_time is not None:
            first_month = month_start(first_time, config.reporting_time_zone)
            log.info("%s: %d rows extracted since %s, earliest in %s", table, new_rows, watermarks[table],
                     f"{first_month:%Y-%m}")
            if first_month < earliest:
                earliest = first_month
                reasons.append(f"{new_rows} late or corrected rows in {table} from {first_month:%Y-%m}")

    if not is_full and _table_exists(conn, "staging.fx_rates_monthly") and _table_exists(
        conn, "raw_finance.fx_rates_monthly"
    ):
        changed_month = conn.execute(
            """
            select min(coalesce(staged.month_start, date_trunc('month', raw.month)::date))
            from staging.fx_rates_monthly as staged
            full outer join raw_finance.fx_rates_monthly as raw
                on staged.month_start = date_trunc('month', raw.month)::date
                and staged.currency = lower(raw.currency)
            where staged.rate_to_usd is distinct from raw.rate_to_usd
            """
        ).fetchone()[0]
        if changed_month is not None and changed_month < earliest:
            earliest = changed_month
            reasons.append(f"FX rates changed from {changed_month:%Y-%m}")

    recompute_from = FULL_HISTORY_START if is_full else earliest
    plan = RecomputePlan(
        recompute_from=recompute_from.isoformat(),
        open_month=open_month.isoformat(),
        is_full_rebuild=is_full,
        reasons=reasons,
        watermarks_seen=seen,
        conventions_fingerprint=fingerprint,
    )
    log.info(
        "Recompute plan: %s from %s to %s (%s)",
        "full rebuild" if is_full else "months",
        "the first month of data" if is_full else f"{recompute_from:%Y-%m}",
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
    for key, value in ((WATERMARKS_KEY, merged), (CONVENTIONS_KEY, plan["conventions_fingerprint"])):
        conn.execute(
            f"""
            insert into {STATE_TABLE} (state_key, state_value, updated_at) values (%s, %s::jsonb, now())
            on conflict (state_key) do update set state_value = excluded.state_value, updated_at = now()
            """,
            (key, json.dumps(value)),
        )
    conn.commit()
    log.info("Saved pipeline state: watermarks for %d raw tables", len(merged))
