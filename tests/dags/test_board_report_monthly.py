"""The monthly board DAG through `dag.test()`: publish within 0.5 % of finance, hold otherwise.

Two customers pay 100.00 USD a month from January 2026, so the engine's ARR is 2,400 USD in
every month. The daily models are built as of 2026-06-01 07:00 UTC, as the daily run of that
morning builds them. The board run for the interval ending 2026-06-01 09:00 then reports May.
"""

from __future__ import annotations

import datetime as dt

import pytest

from helpers.airflow_runs import run_dag
from helpers.models import create_raw_tables, insert_subscription_version, price, run_models
from helpers.webhook import WebhookServer
from saas_metrics.notifiers.board import SLACK_CONN_ID_ENV

pytestmark = pytest.mark.slow

DAILY_RUN_END = dt.datetime(2026, 6, 1, 7, tzinfo=dt.UTC)
APRIL_RUN = dt.datetime(2026, 5, 1, 9, tzinfo=dt.UTC)
MAY_RUN = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
ENGINE_ARR = 2400


@pytest.fixture
def board_dag(warehouse_db, airflow_db, monkeypatch):
    """The board DAG over a warehouse whose daily models are built and whose April ARR matches finance."""
    monkeypatch.setenv("SAAS_METRICS_TASK_RETRIES", "0")
    with warehouse_db.connect() as conn:
        create_raw_tables(conn)
        for number, day in (("1", "2026-01-10"), ("2", "2026-01-12")):
            insert_subscription_version(
                conn,
                subscription_id=f"sub_{number}",
                customer_id=f"cus_{number}",
                updated=day,
                items=[(price(10000), 1)],
            )
        _report_finance_arr(conn, "2026-04-01", ENGINE_ARR)
        conn.commit()
        run_models(conn, DAILY_RUN_END)

    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(_dag_file()))
    return bag.dags["board_report_monthly"]


@pytest.fixture
def webhook(monkeypatch):
    with WebhookServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_BOARD", server.connection_json())
        monkeypatch.setenv(SLACK_CONN_ID_ENV, "slack_board")
        yield server


def _dag_file():
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "dags" / "board_report_monthly.py"


def _report_finance_arr(conn, month, arr):
    conn.execute(
        "insert into raw_finance.arr_reported (month, reported_arr_usd, reported_at) values (%s, %s, %s)",
        (month, arr, DAILY_RUN_END),
    )


def _report_may(warehouse_db, arr):
    with warehouse_db.connect() as conn:
        _report_finance_arr(conn, "2026-05-01", arr)


def _task_states(dag_run):
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def _board_deck(warehouse_db):
    return warehouse_db.query(
        "select month_start, arr, finance_arr_usd, finance_validation_outcome, validated_by_run_id "
        "from analytics.board_deck_latest"
    )


def test_within_tolerance_publishes(board_dag, warehouse_db, webhook):
    _report_may(warehouse_db, "2407.20")  # engine 0.30 % below finance
    dag_run = run_dag(board_dag, logical_date=MAY_RUN)
    assert dag_run.state == "success"
    assert _task_states(dag_run) == {
        "reconcile_arr": "success",
        "validate_against_finance": "success",
        "choose_board_path": "success",
        "publish_board_deck": "success",
        "generate_board_report": "success",
        "notify_board_report_held": "skipped",
        "end_board_run": "success",
    }
    assert webhook.bodies == []


def test_published_deck_is_stamped(board_dag, warehouse_db, webhook):
    _report_may(warehouse_db, "2407.20")
    dag_run = run_dag(board_dag, logical_date=MAY_RUN)
    [(month, arr, finance_arr, outcome, run_id)] = _board_deck(warehouse_db)
    assert month == dt.date(2026, 5, 1)
    assert arr == ENGINE_ARR
    assert float(finance_arr) == pytest.approx(2407.20)
    assert outcome == "passed"
    assert run_id == dag_run.run_id


def test_outside_tolerance_holds(board_dag, warehouse_db, webhook):
    run_dag(board_dag, logical_date=APRIL_RUN)
    _report_may(warehouse_db, "2380.95")  # engine 0.80 % above finance
    dag_run = run_dag(board_dag, logical_date=MAY_RUN)
    assert dag_run.state == "failed"
    assert _task_states(dag_run) == {
        "reconcile_arr": "success",
        "validate_against_finance": "success",
        "choose_board_path": "success",
        "publish_board_deck": "skipped",
        "generate_board_report": "skipped",
        "notify_board_report_held": "success",
        "end_board_run": "failed",
    }
    [(month, *_)] = _board_deck(warehouse_db)
    assert month == dt.date(2026, 4, 1)


def test_hold_notifies_both_numbers(board_dag, warehouse_db, webhook):
    _report_may(warehouse_db, "2380.95")
    run_dag(board_dag, logical_date=MAY_RUN)
    [body] = webhook.bodies
    assert body["text"].startswith("board report held: the board metrics of 2026-05 were not published")
    assert (
        "engine ARR 2,400.00 USD, finance ARR 2,380.95 USD, difference +19.05 USD (+0.80% of finance)" in body["text"]
    )
    assert "arr_matches_finance (critical): failed" in body["text"]


def test_unreported_month_holds(board_dag, warehouse_db, webhook):
    dag_run = run_dag(board_dag, logical_date=MAY_RUN)
    assert dag_run.state == "failed"
    assert "finance ARR not reported" in webhook.bodies[0]["text"]


def test_end_waits_for_either_branch():
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(_dag_file())).dags["board_report_monthly"]
    end = dag.get_task("end_board_run")
    assert end.trigger_rule == "none_failed_min_one_success"
    assert end.upstream_task_ids == {"generate_board_report", "notify_board_report_held"}
