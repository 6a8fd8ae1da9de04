"""The board report task: the month it reports and where its validation stamp comes from."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from saas_metrics.operators.board_report import closed_month

INTERVAL_END = dt.datetime(2026, 6, 3, 8, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("interval_end", "time_zone", "expected"),
    [
        (dt.datetime(2026, 6, 1, 0, tzinfo=dt.UTC), "UTC", dt.date(2026, 5, 1)),
        (dt.datetime(2026, 6, 5, 8, tzinfo=dt.UTC), "UTC", dt.date(2026, 5, 1)),
        (dt.datetime(2026, 1, 1, 0, tzinfo=dt.UTC), "UTC", dt.date(2025, 12, 1)),
        # 03:00 UTC on June 1 is still May 31 in Los Angeles, so May is not closed there yet.
        (dt.datetime(2026, 6, 1, 3, tzinfo=dt.UTC), "America/Los_Angeles", dt.date(2026, 4, 1)),
    ],
)
def test_closed_month_of_interval(interval_end, time_zone, expected):
    assert closed_month(interval_end, time_zone) == expected


def _run_report_dag(output_dir, **task_arguments):
    import pendulum
    from airflow.sdk import DAG

    from helpers.airflow_runs import run_dag
    from saas_metrics.operators.board_report import build_board_report_task

    with DAG(
        dag_id="board_report_task_test",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 0},
    ) as dag:
        build_board_report_task(output_dir=str(output_dir), **task_arguments)
    run = run_dag(dag, logical_date=INTERVAL_END)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    return run, states


def _manifest(output_dir) -> dict:
    return json.loads((output_dir / "board-report-2026-05.json").read_text())


@pytest.mark.slow
def test_task_reads_board_deck_stamp(demo_db, airflow_db, tmp_path):
    with demo_db.connect() as conn:
        conn.execute("create table analytics.board_deck_latest (month_start date, validation_status text, "
                     "difference_ratio numeric, tolerance numeric)")
        conn.execute("insert into analytics.board_deck_latest values ('2026-05-01', 'validated', 0.001, 0.005)")
        conn.commit()
    run, states = _run_report_dag(tmp_path)
    assert states == {"build_board_report": "success"}
    assert _manifest(tmp_path)["validation"]["status"] == "validated"
    assert _manifest(tmp_path)["validation"]["source"] == "analytics.board_deck_latest"


@pytest.mark.slow
def test_task_argument_wins(demo_db, airflow_db, tmp_path):
    _, states = _run_report_dag(tmp_path, validation={"status": "held", "difference_ratio": "0.03"})
    assert states == {"build_board_report": "success"}
    assert _manifest(tmp_path)["validation"]["status"] == "held"


@pytest.mark.slow
def test_task_keeps_validated_report(demo_db, airflow_db, tmp_path):
    _run_report_dag(tmp_path, validation="validated")
    html_before = (tmp_path / "board-report-2026-05.html").read_bytes()
    _, states = _run_report_dag(tmp_path)
    assert states == {"build_board_report": "success"}
    assert (tmp_path / "board-report-2026-05.html").read_bytes() == html_before
    assert _manifest(tmp_path)["validation"]["status"] == "validated"


@pytest.mark.slow
def test_task_rejects_invalid_month(demo_db, airflow_db, tmp_path):
    _, states = _run_report_dag(tmp_path, month="May 2026")
    assert states == {"build_board_report": "failed"}
