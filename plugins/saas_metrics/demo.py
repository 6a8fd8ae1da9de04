"""The demo ingestion task: loads the generated demo company in place of the Airbyte syncs."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

log = logging.getLogger(__name__)


def resolve_history_start(value: str | None, until: datetime, months: int = 24) -> date:
    """Return the first month of the demo history: `value` (YYYY-MM-DD) or, for "auto",
    the first day of the month `months - 1` months before the month of `until` (UTC)."""
    if value and value != "auto":
        start = date.fromisoformat(value)
        if start.day != 1:
            raise ValueError(f"demo_history_start must be the first day of a month, got {value}")
        return start
    month_index = until.year * 12 + (until.month - 1) - (months - 1)
    return date(month_index // 12, month_index % 12 + 1, 1)


def load_demo_company(*, conn_id: str, until: datetime, seed: int, scale: float, history_start: str) -> dict:
    """Generate the demo company as of `until` and replace the raw tables with it."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from include.demo_data import generate, load

    start = resolve_history_start(history_start, until)
    log.info("Generating demo company: seed=%s scale=%s history from %s until %s", seed, scale, start, until)
    began = time.monotonic()
    dataset = generate(seed=seed, scale=scale, history_start=start, until=until)
    generated = time.monotonic()
    with PostgresHook(postgres_conn_id=conn_id).get_conn() as conn:
        counts = load(conn, dataset)
    for table, rows in sorted(counts.items()):
        log.info("Loaded %s: %d rows", table, rows)
    log.info(
        "Demo data: %d rows in %d tables, generated in %.1f s, loaded in %.1f s",
        sum(counts.values()),
        len(counts),
        generated - began,
        time.monotonic() - generated,
    )
    return counts


def count_timezone_conversions(
    *,
    conn_id: str,
    tables: list[str],
    rewritten: Mapping[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Log and return, per staging table, how many rows this run converted from local time.

    A table in `rewritten` (table: SQL condition on its columns, with `%(name)s` placeholders
    bound from `parameters`) is rewritten only in part, so only the rows matching the condition
    are counted: those the run converted. The other tables are rewritten whole and every row is
    counted. Counting only the part keeps the report's time flat as the history grows.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    rewritten = dict(rewritten or {})
    hook = PostgresHook(postgres_conn_id=conn_id)
    report = {}
    for table in tables:
        condition = rewritten.get(table, "true")
        converted, total = hook.get_first(
            f"select count(*) filter (where is_local_time_converted), count(*) from {table} where {condition}",
            parameters=dict(parameters or {}) if table in rewritten else None,
        )
        bound = ", ".join(f"{name} {value}" for name, value in dict(parameters or {}).items())
        scope = f"rows this run rewrote ({bound})" if table in rewritten else "rows"
        report[table] = {"converted": converted, "total": total, "scope": scope}
        share = converted / total if total else 0.0
        log.info(
            "%s: converted %d of %d %s (%.1f %%) from local time to UTC",
            table,
            converted,
            total,
            scope,
            share * 100,
        )
    return report
