"""EvaluateAlertsOperator in real DAG runs: the shipped rules, delivery to capture servers, no resends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from helpers.airflow_runs import run_dag
from helpers.capture_servers import slack_connection, smtp_connection
from helpers.notification_fixtures import unused_port
from saas_metrics.operators.alerts import evaluate_alerts_task

NOVEMBER_20 = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC)


def _alerts_dag(dag_id):
    from airflow.sdk import DAG

    with DAG(dag_id=dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:
        evaluate_alerts_task()
    return dag


def _mrr_monthly(warehouse_db, october_mrr, november_mrr):
    with warehouse_db.connect() as conn:
        conn.execute("create schema analytics")
        conn.execute(
            """
            create table analytics.mrr_monthly (
                month_start date, currency_basis text, currency text, is_provisional boolean,
                mrr numeric, starting_customers bigint, churned_customers bigint
            )
            """
        )
        conn.execute(
            """
            insert into analytics.mrr_monthly values
                ('2026-10-01', 'reporting', 'usd', false, %s, 400, 5),
                ('2026-11-01', 'reporting', 'usd', true, %s, 410, 30)
            """,
            (october_mrr, november_mrr),
        )


def _history(warehouse_db, rule_name="mrr_drop_alert"):
    return warehouse_db.query(
        """
        select status, delivery_status, delivered_channel, (metric_values -> 'current_mrr')::numeric
        from analytics.alert_history
        where rule_name = %s
        order by evaluation_id
        """,
        (rule_name,),
    )


def test_fired_alert_sends_one_message(warehouse_db, airflow_db, shipped_channels, webhook, smtp_server):
    _mrr_monthly(warehouse_db, 100000, 88000)
    run = run_dag(_alerts_dag("alerts_fire"), logical_date=NOVEMBER_20)
    assert run.state == "success"
    assert len(webhook.requests) == 1
    assert webhook.requests[0].path == "/slack_exec_team"
    assert smtp_server.messages == []


def test_message_contains_template_values(warehouse_db, airflow_db, shipped_channels, webhook):
    _mrr_monthly(warehouse_db, 100000, 88000)
    run_dag(_alerts_dag("alerts_message"), logical_date=NOVEMBER_20)
    text = webhook.texts()[0]
    assert "*[CRITICAL] mrr_drop_alert for 2026-11*" in text
    assert "MRR changed by -12.0% from 2026-10 to 2026-11" in text
    assert "88,000.00 USD now against 100,000.00 USD at the end of 2026-10" in text
    assert "What to do: Check which movement" in text


def test_rerun_of_interval_does_not_resend(warehouse_db, airflow_db, shipped_channels, webhook):
    _mrr_monthly(warehouse_db, 100000, 88000)
    first = run_dag(_alerts_dag("alerts_rerun"), logical_date=NOVEMBER_20)
    second = run_dag(_alerts_dag("alerts_rerun"), logical_date=NOVEMBER_20)
    assert first.run_id != second.run_id
    assert second.state == "success"
    assert len(webhook.requests) == 1
    assert _history(warehouse_db) == [
        ("fired", "delivered", "slack_exec_team", Decimal(88000)),
        ("fired", "already_delivered", None, Decimal(88000)),
    ]


def test_every_evaluation_is_recorded(warehouse_db, airflow_db, shipped_channels):
    _mrr_monthly(warehouse_db, 100000, 99000)
    run_dag(_alerts_dag("alerts_history"), logical_date=NOVEMBER_20)
    rows = dict(warehouse_db.query("select rule_name, status from analytics.alert_history"))
    assert rows == {
        "mrr_drop_alert": "not_fired",
        "churn_spike_alert": "not_evaluated",
        "infra_cost_per_user_alert": "not_evaluated",
        "stripe_reconciliation_alert": "not_evaluated",
    }


def test_not_evaluated_reason_is_recorded(warehouse_db, airflow_db, shipped_channels):
    _mrr_monthly(warehouse_db, 100000, 99000)
    run_dag(_alerts_dag("alerts_reason"), logical_date=NOVEMBER_20)
    reasons = dict(warehouse_db.query("select rule_name, reason from analytics.alert_history"))
    assert reasons["churn_spike_alert"] == "table analytics.churn_monthly does not exist yet"
    assert reasons["mrr_drop_alert"] is None


def test_no_alert_sends_nothing(warehouse_db, airflow_db, shipped_channels, webhook, smtp_server):
    _mrr_monthly(warehouse_db, 100000, 99000)
    run = run_dag(_alerts_dag("alerts_quiet"), logical_date=NOVEMBER_20)
    assert run.state == "success"
    assert webhook.requests == []
    assert smtp_server.messages == []


def test_webhook_500_falls_back_to_email(
    warehouse_db, airflow_db, failing_webhook, smtp_server, claim_dir, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_EXEC_TEAM", slack_connection(failing_webhook.url()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(smtp_server.port))
    _mrr_monthly(warehouse_db, 100000, 88000)
    run = run_dag(_alerts_dag("alerts_fallback"), logical_date=NOVEMBER_20)
    assert run.state == "success"
    assert len(failing_webhook.requests) == 1
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].subject == "[CRITICAL] mrr_drop_alert for 2026-11"
    assert smtp_server.messages[0].recipients == ("michael@cloudflow.io", "emily@cloudflow.io")
    assert "88,000.00 USD now against 100,000.00 USD" in smtp_server.messages[0].text
    assert _history(warehouse_db)[0][2] == "email_executives"


def test_all_channels_failing_fails_task(warehouse_db, airflow_db, failing_webhook, claim_dir, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_EXEC_TEAM", slack_connection(failing_webhook.url()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(unused_port()))
    _mrr_monthly(warehouse_db, 100000, 88000)
    run = run_dag(_alerts_dag("alerts_undelivered"), logical_date=NOVEMBER_20)
    assert run.state == "failed"
    assert _history(warehouse_db)[0][1] == "failed"
    deliveries = warehouse_db.query("select status, last_error from analytics.alert_deliveries")
    assert deliveries[0][0] == "failed"
    assert "Status Code: 500" in deliveries[0][1]


def test_failed_delivery_is_sent_on_rerun(
    warehouse_db, airflow_db, failing_webhook, smtp_server, claim_dir, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_EXEC_TEAM", slack_connection(failing_webhook.url()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(unused_port()))
    _mrr_monthly(warehouse_db, 100000, 88000)
    run_dag(_alerts_dag("alerts_redeliver"), logical_date=NOVEMBER_20)
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(smtp_server.port))
    run = run_dag(_alerts_dag("alerts_redeliver"), logical_date=NOVEMBER_20)
    assert run.state == "success"
    assert len(smtp_server.messages) == 1
    assert warehouse_db.query("select status, channel from analytics.alert_deliveries") == [
        ("delivered", "email_executives")
    ]
