"""Record of every source sync attempt in the warehouse table analytics.ingestion_health.

The sync operator writes one row per task attempt: after success, after a failure, and when the
task is killed. The rows are meant for data quality reporting (failed syncs, freshness per source).
Writing is best effort: `record_sync_attempt` logs any error and returns False instead of
raising, so an unreachable warehouse never fails a sync.
"""

from __future__ import annotations

import logging
from dataclasses import astuple, dataclass, fields, replace
from datetime import datetime

log = logging.getLogger(__name__)

HEALTH_TABLE = "analytics.ingestion_health"
ERROR_MAX_CHARS = 4000

# Six sync tasks may create the table at the same moment. Concurrent `create ... if not exists`
# statements then fail with unique violations in PostgreSQL's catalog (seen with six sessions on
# the embedded PostgreSQL 18), so every writer takes this transaction-scoped advisory lock first.
# The key is an arbitrary constant of this project.
DDL_LOCK_KEY = 7_240_431_001

CREATE_TABLE_SQL = """
create schema if not exists analytics;

create table if not exists analytics.ingestion_health (
    ingestion_health_id bigint generated always as identity primary key,
    source text not null,
    connection_id text not null,
    job_id bigint,
    status text not null,
    started_at timestamptz,
    ended_at timestamptz,
    rows_synced bigint,
    bytes_synced bigint,
    attempt integer,
    error text,
    dag_id text,
    run_id text,
    task_id text,
    recorded_at timestamptz not null default now()
);

comment on table analytics.ingestion_health is
    'One row per Airbyte sync attempt (task try), written by AirbyteSyncOperator.';
comment on column analytics.ingestion_health.status is
    'Airbyte job status last read (pending, queued, running, incomplete, succeeded, failed, '
    'cancelled), or not_started when no job was started or found.';
comment on column analytics.ingestion_health.started_at is
    'Start time of the Airbyte job, or of the task attempt when no job was started.';
comment on column analytics.ingestion_health.error is
    'Why the attempt failed; null when it succeeded.';
"""


@dataclass(frozen=True)
class SyncAttemptRecord:
    """One row of analytics.ingestion_health. The field order is the column order."""

    source: str
    connection_id: str
    job_id: int | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    rows_synced: int | None
    bytes_synced: int | None
    attempt: int | None
    error: str | None
    dag_id: str | None
    run_id: str | None
    task_id: str | None


INSERT_SQL = (
    f"insert into {HEALTH_TABLE} ({', '.join(field.name for field in fields(SyncAttemptRecord))}) "
    f"values ({', '.join(['%s'] * len(fields(SyncAttemptRecord)))})"
)


def record_sync_attempt(record: SyncAttemptRecord, *, conn_id: str = "warehouse") -> bool:
    """Insert `record`, creating the table if it is missing. Returns False when that failed."""
    if record.error is not None and len(record.error) > ERROR_MAX_CHARS:
        record = replace(record, error=record.error[:ERROR_MAX_CHARS])
    try:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
        try:
            with conn.cursor() as cursor:
                cursor.execute("select pg_advisory_xact_lock(%s)", (DDL_LOCK_KEY,))
                cursor.execute(CREATE_TABLE_SQL)
                cursor.execute(INSERT_SQL, astuple(record))
            conn.commit()
        finally:
            conn.close()
    except Exception as error:
        log.warning(
            "Could not record the sync attempt of source %s (Airbyte job %s, status %s) in %s through "
            "connection %s: %s. The sync result is unaffected; check that the connection points at "
            "the warehouse and may create tables in schema analytics.",
            record.source,
            record.job_id,
            record.status,
            HEALTH_TABLE,
            conn_id,
            error,
        )
        return False
    log.info(
        "Recorded the sync attempt of source %s (Airbyte job %s, status %s) in %s",
        record.source,
        record.job_id,
        record.status,
        HEALTH_TABLE,
    )
    return True
