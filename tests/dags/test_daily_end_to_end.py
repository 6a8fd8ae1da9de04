"""The daily DAG end to end through `dag.test()` on a small demo company in real PostgreSQL.

analytics.mrr_monthly is checked against an independent Python computation from the raw
Stripe rows the run loaded (tests/helpers/mrr_oracle.py).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from helpers.mrr_oracle import monthly_mrr

pytestmark = pytest.mark.slow

LOGICAL_DATE = dt.datetime(2026, 6, 15, 7, tzinfo=dt.UTC)
INTERVAL_END = dt.datetime(2026, 6, 15, 7, tzinfo=dt.UTC)
RUN_CONF = {"demo_seed": 7, "demo_scale": 0.05, "demo_history_start": "2025-01-01"}
TOLERANCE = Decimal("1e-6")


@pytest.fixture(scope="module")
def daily_run(request, pg_server, airflow_db, tmp_path_factory):
    """Run the daily DAG twice for the same interval in one module-wide database."""
    import os

    import psycopg

    monkeypatch = pytest.MonkeyPatch()
    name = "e2e_daily"
    with psycopg.connect(**pg_server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_server.airflow_uri(name))
    monkeypatch.setenv("SAAS_METRICS_TASK_RETRIES", "0")
    monkeypatch.setenv("SAAS_METRICS_NOTIFICATIONS", "outbox")
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path_factory.mktemp("output")))

    from airflow.models import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag = bag.dags["saas_metrics_daily"]

    def connect():
        return psycopg.connect(**pg_server.conninfo(name))

    first = dag.test(logical_date=LOGICAL_DATE, run_conf=RUN_CONF)
    with connect() as conn:
        first_tables = _analytics_snapshot(conn)
    second = dag.test(logical_date=LOGICAL_DATE, run_conf=RUN_CONF)
    yield {"first": first, "second": second, "first_tables": first_tables, "connect": connect}
    monkeypatch.undo()


def _analytics_snapshot(conn) -> dict[str, list[tuple]]:
    tables = ["analytics.mrr_monthly", "analytics.customer_mrr_monthly", "core.subscription_item_states",
              "staging.product_events", "staging.quarantine"]
    return {table: sorted(conn.execute(f"select * from {table}").fetchall(), key=repr) for table in tables}


def test_daily_run_succeeds(daily_run):
    assert daily_run["first"].state == "success"


def _task_states(dag_run) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.state).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        return {task_id: state for task_id, state in rows}


def test_every_task_succeeds(daily_run):
    # The second dag.test() of the same logical date replaced the first run's records.
    states = _task_states(daily_run["second"])
    assert states
    assert {task: state for task, state in states.items() if state != "success"} == {}


def test_rerun_leaves_identical_tables(daily_run):
    assert daily_run["second"].state == "success"
    with daily_run["connect"]() as conn:
        assert _analytics_snapshot(conn) == daily_run["first_tables"]


def test_snapshot_is_interval_end(daily_run):
    with daily_run["connect"]() as conn:
        as_of, last_month, provisional = conn.execute(
            "select max(as_of), max(month_start), bool_or(is_provisional) from analytics.mrr_monthly"
        ).fetchone()
    assert as_of == INTERVAL_END
    assert last_month == dt.date(2026, 6, 1)
    assert provisional is True


def test_mrr_matches_independent_computation(daily_run):
    with daily_run["connect"]() as conn:
        cursor = conn.execute("select * from raw_stripe.subscriptions")
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        fx = {
            (month.replace(day=1), currency.lower()): Decimal(rate)
            for month, currency, rate in conn.execute(
                "select month, currency, rate_to_usd from raw_finance.fx_rates_monthly"
            ).fetchall()
        }
        engine = {
            row[0]: row[1:]
            for row in conn.execute(
                "select month_start, mrr, paying_customers, new_mrr, expansion_mrr, contraction_mrr, "
                "churned_mrr, reactivation_mrr from analytics.mrr_monthly "
                "where currency_basis = 'reporting' order by month_start"
            ).fetchall()
        }
    for row in rows:
        for key in ("items", "discount"):
            if isinstance(row[key], str):
                row[key] = json.loads(row[key])
    expected = monthly_mrr(rows, fx, as_of=INTERVAL_END)

    assert sorted(engine) == sorted(expected)
    for month, values in expected.items():
        mrr, paying, new, expansion, contraction, churn, reactivation = engine[month]
        assert abs(mrr - values["mrr"]) < TOLERANCE, month
        assert paying == values["paying_customers"], month
        assert abs(new - values.get("new_mrr", 0)) < TOLERANCE, month
        assert abs(expansion - values.get("expansion_mrr", 0)) < TOLERANCE, month
        assert abs(contraction - values.get("contraction_mrr", 0)) < TOLERANCE, month
        assert abs(churn - values.get("churned_mrr", 0)) < TOLERANCE, month
        assert abs(reactivation - values.get("reactivation_mrr", 0)) < TOLERANCE, month


def test_latest_month_has_paying_customers(daily_run):
    with daily_run["connect"]() as conn:
        mrr, paying = conn.execute(
            "select mrr, paying_customers from analytics.mrr_monthly "
            "where currency_basis = 'reporting' order by month_start desc limit 1"
        ).fetchone()
    assert mrr > 0
    assert paying > 0


def test_timezone_conversion_share(daily_run):
    with daily_run["connect"]() as conn:
        converted, total = conn.execute(
            "select count(*) filter (where is_local_time_converted), count(*) from staging.product_events"
        ).fetchone()
    assert total > 0
    assert 0.10 < converted / total < 0.14
