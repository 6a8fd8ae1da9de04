"""The weekly DAG through `dag.test()` on hand-made daily tables in real PostgreSQL.

The database gets a few raw rows and the daily DAG's models, then the weekly DAG runs twice
for the interval ending Monday 2026-03-16 08:00 UTC: first without analytics.query_audit_log,
then with it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from helpers.models import (
    create_raw_tables,
    insert_event,
    insert_subscription_version,
    insert_workspace,
    price,
    run_models,
)

pytestmark = pytest.mark.slow

INTERVAL_END = dt.datetime(2026, 3, 16, 8, tzinfo=dt.UTC)
DAILY_AS_OF = dt.datetime(2026, 3, 16, 7, tzinfo=dt.UTC)
DATABASE = "weekly_dag"
WEEKLY_TABLES = (
    "analytics.cohort_deep_dive_weekly",
    "analytics.feature_adoption_weekly",
    "analytics.self_service_adoption_weekly",
    "analytics.data_quality_weekly",
)


def _prepare(conn) -> None:
    run_models(conn, DAILY_AS_OF, only={"setup_warehouse"})
    create_raw_tables(conn)
    insert_subscription_version(conn, subscription_id="s1", customer_id="c1", updated="2025-10-03T10:00:00",
                                items=[(price(10000), 1)])
    insert_subscription_version(conn, subscription_id="s2", customer_id="c2", updated="2026-01-10T10:00:00",
                                items=[(price(5000), 2)])
    insert_workspace(conn, 1, created_at="2025-10-03 10:00:00", customer_id="c1")
    insert_event(conn, 1, workspace_id=1, user_id=1, occurred_at="2026-03-10 09:00:00")
    conn.commit()
    run_models(conn, DAILY_AS_OF)


@pytest.fixture(scope="module")
def weekly_runs(pg_server, airflow_db):
    """Run the weekly DAG without and then with the self-service audit log."""
    import os

    import psycopg
    from airflow.models import DagBag

    from saas_metrics.paths import SQL_DIR

    monkeypatch = pytest.MonkeyPatch()
    with psycopg.connect(**pg_server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DATABASE}" with (force)')
        conn.execute(f'create database "{DATABASE}"')
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_server.airflow_uri(DATABASE))
    monkeypatch.setenv("SAAS_METRICS_TASK_RETRIES", "0")

    def connect():
        return psycopg.connect(**pg_server.conninfo(DATABASE))

    with connect() as conn:
        _prepare(conn)

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag = bag.dags["saas_metrics_weekly"]
    without_log = dag.test(logical_date=INTERVAL_END)
    # The second run of the same interval replaces this run's task instances: read them now.
    without_log_states = {ti.task_id: ti.state for ti in without_log.get_task_instances()}
    with connect() as conn:
        without_log_rows = conn.execute("select is_available from analytics.self_service_adoption_weekly").fetchall()
        conn.execute((SQL_DIR / "governance" / "query_audit_log.sql").read_text())
        conn.commit()
    with_log = dag.test(logical_date=INTERVAL_END)
    yield {
        "without_log": without_log,
        "without_log_states": without_log_states,
        "without_log_rows": without_log_rows,
        "with_log": with_log,
        "connect": connect,
    }
    monkeypatch.undo()
    with psycopg.connect(**pg_server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DATABASE}" with (force)')


def test_weekly_run_succeeds(weekly_runs):
    assert weekly_runs["without_log"].state == "success"


def test_every_weekly_task_succeeds(weekly_runs):
    states = weekly_runs["without_log_states"]
    assert len(states) == 6
    assert {task: state for task, state in states.items() if state != "success"} == {}


def test_weekly_run_uses_interval_end(weekly_runs):
    assert weekly_runs["without_log"].data_interval_end == INTERVAL_END


@pytest.mark.parametrize("table", WEEKLY_TABLES)
def test_weekly_table_has_rows(weekly_runs, table):
    with weekly_runs["connect"]() as conn:
        assert conn.execute(f"select count(*) from {table}").fetchone()[0] > 0


def test_missing_audit_log_recorded(weekly_runs):
    assert weekly_runs["without_log_rows"] == [(False,)]


def test_present_audit_log_used(weekly_runs):
    assert weekly_runs["with_log"].state == "success"
    with weekly_runs["connect"]() as conn:
        rows = conn.execute(
            "select is_available, template_runs from analytics.self_service_adoption_weekly"
        ).fetchall()
    assert rows == [(True, 0)]


def test_rerun_keeps_one_report_week(weekly_runs):
    with weekly_runs["connect"]() as conn:
        weeks = conn.execute("select distinct week_start from analytics.data_quality_weekly").fetchall()
    assert weeks == [(dt.date(2026, 3, 9),)]
