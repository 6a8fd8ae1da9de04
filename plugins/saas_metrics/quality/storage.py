"""Store check records in analytics.data_quality_results, one row per check and run.

A gate run replaces the rows of each table it checked for its own DAG run (delete, then insert,
in one transaction), so rerunning or clearing the gate leaves one set of rows per run and table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from saas_metrics.quality.records import CheckRecord

RESULTS_TABLE = "analytics.data_quality_results"

CREATE_RESULTS_TABLE = f"""
create table if not exists {RESULTS_TABLE} (
    dag_id text not null,
    run_id text not null,
    task_id text not null,
    data_interval_end timestamptz,
    table_name text not null,
    contract text not null,
    check_name text not null,
    check_type text,
    severity text not null,
    threshold_level text not null,
    outcome text not null,
    action text not null,
    value numeric,
    threshold text,
    message text,
    recorded_at timestamptz not null
)
"""
CREATE_RESULTS_INDEX = f"""
create index if not exists data_quality_results_run_table
on {RESULTS_TABLE} (dag_id, run_id, table_name)
"""


def store_results(
    conn,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    data_interval_end: dt.datetime | None,
    records: Sequence[CheckRecord],
    tables: Iterable[str],
) -> int:
    """Replace this run's rows for `tables` with `records`, commit, and return the number of rows written."""
    tables = sorted(set(tables) | {record.table_name for record in records})
    rows = [
        {
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "data_interval_end": data_interval_end,
            "table_name": record.table_name,
            "contract": record.contract,
            "check_name": record.check_name,
            "check_type": record.check_type,
            "severity": record.severity,
            "threshold_level": record.level,
            "outcome": record.outcome,
            "action": record.action,
            "value": record.value,
            "threshold": record.threshold,
            "message": record.message,
        }
        for record in records
    ]
    columns = list(rows[0]) if rows else []
    insert = (
        f"insert into {RESULTS_TABLE} ({', '.join(columns)}, recorded_at) "
        f"values ({', '.join(f'%({column})s' for column in columns)}, now())"
    )
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("create schema if not exists analytics")
        cur.execute(CREATE_RESULTS_TABLE)
        # CREATE INDEX IF NOT EXISTS would take its lock, and wait for autovacuum, before it looks.
        if not cur.execute("select to_regclass('analytics.data_quality_results_run_table') is not null").fetchone()[0]:
            cur.execute(CREATE_RESULTS_INDEX)
        cur.execute(
            f"delete from {RESULTS_TABLE} where dag_id = %s and run_id = %s and table_name = any(%s)",
            (dag_id, run_id, tables),
        )
        if rows:
            cur.executemany(insert, rows)
    return len(rows)
