"""Recording sync attempts in analytics.ingestion_health, in a real PostgreSQL database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from saas_metrics.ingestion_health import SyncAttemptRecord, record_sync_attempt


def make_record(source: str = "stripe", **overrides) -> SyncAttemptRecord:
    values = {
        "source": source,
        "connection_id": "6f1f3a6e-2c5d-4f3a-9a57-3f0c2b8d9e11",
        "job_id": 4100,
        "status": "succeeded",
        "started_at": datetime(2026, 3, 1, 7, 0, tzinfo=UTC),
        "ended_at": datetime(2026, 3, 1, 7, 4, tzinfo=UTC),
        "rows_synced": 812,
        "bytes_synced": 90_210,
        "attempt": 1,
        "error": None,
        "dag_id": "saas_metrics_daily",
        "run_id": "scheduled__2026-03-01T07:00:00+00:00",
        "task_id": "ingest.sync_stripe",
        **overrides,
    }
    return SyncAttemptRecord(**values)


def test_record_creates_table_and_row(warehouse_db):
    assert record_sync_attempt(make_record()) is True

    rows = warehouse_db.query(
        "select source, job_id, status, rows_synced, attempt from analytics.ingestion_health"
    )
    assert rows == [("stripe", 4100, "succeeded", 812, 1)]


def test_record_truncates_long_error(warehouse_db):
    record_sync_attempt(make_record(status="failed", error="x" * 10_000))

    (length,) = warehouse_db.query("select length(error) from analytics.ingestion_health")[0]
    assert length == 4000


def test_record_concurrent_writers_all_land(warehouse_db):
    # Six tasks of one DAG run record at once into a database that has no table yet.
    results = []
    threads = [
        threading.Thread(target=lambda name=name: results.append(record_sync_attempt(make_record(name))))
        for name in ["stripe", "product_postgres", "segment", "salesforce", "aws_cost_explorer", "zendesk"]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [True] * 6
    assert warehouse_db.query("select count(*) from analytics.ingestion_health") == [(6,)]


def test_record_unknown_connection_returns_false():
    assert record_sync_attempt(make_record(), conn_id="no_such_warehouse") is False
