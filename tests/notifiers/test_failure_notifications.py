"""Failure callbacks and board-report notifications, in real DAG runs against capture servers."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from types import SimpleNamespace

from helpers.airflow_runs import run_dag
from helpers.capture_servers import slack_connection, smtp_connection
from helpers.notification_fixtures import unused_port
from saas_metrics.alerts.config import load_alerts_config
from saas_metrics.notifiers.delivery import Message
from saas_metrics.notifiers.failure import (
    FailedTask,
    PipelineFailureCallback,
    build_failure_message,
    clear_command,
    failure_callbacks,
    is_last_try,
)
from saas_metrics.notifiers.notification_log import NotificationKey, send_once

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOVEMBER_20 = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)
NOVEMBER_21 = dt.datetime(2026, 11, 21, 7, tzinfo=dt.UTC)


def _dag(dag_id, *, retries=0, parallel_failures=False, fail_marker: Path | None = None):
    """Build extract >> load >> publish >> report, where load fails unless the run conf sets "fail" to false.

    With parallel_failures, a second task next to load fails too. With fail_marker, load
    fails only on its first try (it creates the marker file then).
    """
    from airflow.sdk import DAG, chain, task

    default_args = {
        "owner": "data-platform",
        "retries": retries,
        "retry_delay": dt.timedelta(0),
        "on_failure_callback": failure_callbacks(),
    }
    with DAG(dag_id=dag_id, schedule=None, start_date=START, default_args=default_args) as dag:

        @task
        def extract():
            return 1

        @task
        def load(dag_run=None):
            if fail_marker is not None:
                if not fail_marker.exists():
                    fail_marker.touch()
                    raise RuntimeError("load failed on its first try")
                return
            if (dag_run.conf or {}).get("fail", True):
                raise RuntimeError("load failed: boom")

        @task
        def audit():
            raise RuntimeError("audit failed too")

        @task
        def publish():
            return 1

        @task
        def report():
            return 1

        upstream = [load(), audit()] if parallel_failures else load()
        chain(extract(), upstream, publish(), report())
    return dag


def test_failed_run_sends_one_message(warehouse_db, airflow_db, shipped_channels, webhook):
    run = run_dag(_dag("notify_two_failures", parallel_failures=True), logical_date=NOVEMBER_20)
    assert run.state == "failed"
    assert len(webhook.requests) == 1
    assert webhook.requests[0].path == "/slack_data_oncall"


def test_second_failure_is_recorded_once(warehouse_db, airflow_db, shipped_channels):
    run_dag(_dag("notify_log_row", parallel_failures=True), logical_date=NOVEMBER_20)
    rows = warehouse_db.query("select kind, status, channel from analytics.notification_log")
    assert rows == [("pipeline_failure", "delivered", "slack_data_oncall")]


def test_retry_then_success_sends_nothing(warehouse_db, airflow_db, shipped_channels, webhook, tmp_path):
    dag = _dag("notify_retry_success", retries=1, fail_marker=tmp_path / "failed-once")
    run = run_dag(dag, logical_date=NOVEMBER_20)
    assert (tmp_path / "failed-once").exists()
    assert run.state == "success"
    assert webhook.requests == []


def test_failure_after_retry_sends_once(warehouse_db, airflow_db, shipped_channels, webhook):
    run = run_dag(_dag("notify_retry_failure", retries=1), logical_date=NOVEMBER_20)
    assert run.state == "failed"
    assert len(webhook.requests) == 1
    assert "Task: load (try 2 of 2, no retries left)" in webhook.texts()[0]


def test_message_names_required_fields(warehouse_db, airflow_db, shipped_channels, webhook):
    """A run that fails at load after a successful run the day before; one assert per field."""
    dag = _dag("notify_content")
    earlier = run_dag(dag, logical_date=NOVEMBER_20, run_conf={"fail": False})
    failed = run_dag(dag, logical_date=NOVEMBER_21)
    text = webhook.texts()[0]
    log_path = "/dags/notify_content/runs/{}/tasks/load?try_number=1".format(
        failed.run_id.replace(":", "%3A").replace("+", "%2B")
    )
    clear = (
        "airflow tasks clear notify_content -t '^load$' -d "
        "-s 2026-11-21T07:00:00+00:00 -e 2026-11-21T07:00:00+00:00"
    )
    backfill = (
        "airflow backfill create --dag-id notify_content --from-date 2026-11-21T07:00:00+00:00 "
        "--to-date 2026-11-21T07:00:00+00:00 --reprocess-behavior failed"
    )
    assert earlier.state == "success"
    assert failed.state == "failed"
    assert f"*Airflow: notify_content failed at load ({failed.run_id})*" in text
    assert "\nDAG: notify_content\n" in text
    assert "\nTask: load (try 1 of 1, no retries left)\n" in text
    assert f"\nRun: {failed.run_id}\n" in text
    assert "\nData interval: 2026-11-21T07:00:00+00:00 to 2026-11-21T07:00:00+00:00\n" in text
    assert "\nError: RuntimeError: load failed: boom\n" in text
    assert f"{log_path}\n" in text
    assert "\nBlocked downstream tasks (2): publish, report\n" in text
    assert f"\nLast successful run: {earlier.run_id}, data interval" in text
    assert f"\n  {clear}\n" in text
    assert f"\n  {backfill}\n" in text


def test_warehouse_down_still_notifies(airflow_db, shipped_channels, webhook, claim_dir, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"postgresql://postgres@127.0.0.1:{unused_port()}/warehouse")
    run = run_dag(_dag("notify_no_warehouse", parallel_failures=True), logical_date=NOVEMBER_20)
    assert run.state == "failed"
    assert len(webhook.requests) == 1
    assert len(list(claim_dir.glob("*.claim"))) == 1


def test_slack_500_falls_back_to_email(
    warehouse_db, airflow_db, failing_webhook, smtp_server, claim_dir, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_DATA_ONCALL", slack_connection(failing_webhook.url()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(smtp_server.port))
    run_dag(_dag("notify_fallback"), logical_date=NOVEMBER_20)
    assert len(failing_webhook.requests) == 1
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].recipients == ("data-oncall@cloudflow.io",)
    assert "Error: RuntimeError: load failed: boom" in smtp_server.messages[0].text


def _board_dag(dag_id):
    from airflow.sdk import DAG, task

    from saas_metrics.notifiers.failure import notify_board_report_held

    with DAG(dag_id=dag_id, schedule=None, start_date=START) as dag:

        @task
        def hold_board_report(**context):
            outcomes = [
                notify_board_report_held(
                    context, "2026-10", 12_000_000, 11_400_000, 0.0526, tolerance=0.02, raise_on_failure=True
                ).status
                for _ in range(2)
            ]
            return outcomes

        hold_board_report()
    return dag


def test_board_report_held_sends_once(warehouse_db, airflow_db, shipped_channels, smtp_server, webhook):
    run = run_dag(_board_dag("board_held_once"), logical_date=NOVEMBER_20)
    assert run.state == "success"
    assert len(smtp_server.messages) == 1
    assert webhook.requests == []


def test_board_report_held_message(warehouse_db, airflow_db, shipped_channels, smtp_server):
    run_dag(_board_dag("board_held_message"), logical_date=NOVEMBER_20)
    mail = smtp_server.messages[0]
    assert mail.subject == "Board report for 2026-10 held by reconciliation"
    assert mail.recipients == ("emily@cloudflow.io", "finance@cloudflow.io")
    assert "differ by 5.26% (tolerance 2.00%)" in mail.text
    assert "Engine ARR: 12,000,000.00" in mail.text
    assert "Finance ARR: 11,400,000.00" in mail.text
    assert "airflow tasks clear board_held_message -t '^hold_board_report$'" in mail.text


def _channels(kind="pipeline_failure"):
    return load_alerts_config().notification_channels(kind)


KEY = NotificationKey(kind="pipeline_failure", dag_id="d", run_id="r", clear_number=0)
MESSAGE = Message(subject="subject", text="text")


def test_log_row_dedupes_across_hosts(warehouse_db, shipped_channels, webhook, claim_dir):
    first = send_once(KEY, MESSAGE, _channels())
    for claim in claim_dir.glob("*.claim"):
        claim.unlink()
    second = send_once(KEY, MESSAGE, _channels())
    assert first.status == "delivered"
    assert second.status == "already_sent"
    assert len(webhook.requests) == 1


def test_new_clear_number_sends_again(warehouse_db, shipped_channels, webhook, claim_dir):
    send_once(KEY, MESSAGE, _channels())
    send_once(
        NotificationKey(kind="pipeline_failure", dag_id="d", run_id="r", clear_number=1), MESSAGE, _channels()
    )
    assert len(webhook.requests) == 2


def test_failed_delivery_releases_claims(warehouse_db, failing_webhook, smtp_server, claim_dir, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_DATA_ONCALL", slack_connection(failing_webhook.url()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(unused_port()))
    failed = send_once(KEY, MESSAGE, _channels())
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(smtp_server.port))
    retried = send_once(KEY, MESSAGE, _channels())
    assert failed.status == "failed"
    assert retried.status == "delivered"
    assert len(smtp_server.messages) == 1


def _context(try_number, max_tries, state="failed"):
    ti = SimpleNamespace(
        dag_id="d", task_id="t", run_id="r", try_number=try_number, max_tries=max_tries, state=state
    )
    return {"ti": ti, "task": None}


def test_last_try_is_detected():
    assert is_last_try(_context(try_number=3, max_tries=2))


def test_try_with_retries_left_is_not_last():
    assert not is_last_try(_context(try_number=2, max_tries=2))


def test_up_for_retry_state_is_not_last():
    assert not is_last_try(_context(try_number=3, max_tries=2, state="up_for_retry"))


def test_up_for_retry_enum_is_not_last():
    from airflow.sdk import TaskInstanceState

    assert not is_last_try(_context(try_number=3, max_tries=2, state=TaskInstanceState.UP_FOR_RETRY))


def test_clear_command_escapes_task_id():
    command = clear_command("saas_metrics_daily", "compute_mrr.mrr_monthly", NOVEMBER_20)
    assert command == (
        "airflow tasks clear saas_metrics_daily -t '^compute_mrr\\.mrr_monthly$' -d "
        "-s 2026-11-20T07:00:00+00:00 -e 2026-11-20T07:00:00+00:00"
    )


def test_backfill_uses_interval_start():
    # `airflow dags test saas_metrics_daily 2026-11-20T07:00` runs the interval that the
    # timetable places at logical date 2026-11-19T07:00.
    failed = FailedTask(
        dag_id="saas_metrics_daily",
        task_id="load_demo_data",
        run_id="manual__x",
        clear_number=0,
        try_number=1,
        max_tries=0,
        logical_date=NOVEMBER_20,
        data_interval_start=NOVEMBER_20 - dt.timedelta(days=1),
        data_interval_end=NOVEMBER_20,
        error="RuntimeError: boom",
        log_url=None,
        blocked_tasks=(),
        last_success="none before this run",
    )
    text = build_failure_message(failed).text
    assert "--from-date 2026-11-19T07:00:00+00:00 --to-date 2026-11-19T07:00:00+00:00" in text
    assert "-s 2026-11-20T07:00:00+00:00 -e 2026-11-20T07:00:00+00:00" in text


def test_callback_error_is_logged_not_raised(tmp_path, caplog):
    callback = PipelineFailureCallback(config_path=str(tmp_path / "missing.yml"))
    with caplog.at_level(logging.ERROR, logger="saas_metrics.notifiers.failure"):
        callback(_context(try_number=1, max_tries=0))
    assert "The failure notification for d.t run r failed" in caplog.text
    assert "Alerts configuration not found" in caplog.text
