"""notify_quality_warnings: logs every warning, and sends them through a configured Slack webhook."""

from __future__ import annotations

import logging

import pytest

from helpers.quality import gate_context
from helpers.webhook import WebhookServer
from saas_metrics.notifiers.quality import SLACK_CONN_ID_ENV, notify_quality_warnings
from saas_metrics.quality.records import CheckRecord

WARNING = CheckRecord(
    table_name="analytics.mrr_reconciliation",
    contract="analytics/mrr_reconciliation.yml",
    check_name="stripe_reconciliation",
    check_type="metric",
    severity="warning",
    level="warn",
    outcome="warn",
    value=0.031,
    threshold="must be <= 0.02 (warn)",
    message="",
)


@pytest.fixture
def webhook(monkeypatch):
    with WebhookServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_QUALITY", server.connection_json())
        monkeypatch.setenv(SLACK_CONN_ID_ENV, "slack_quality")
        yield server


def test_warning_is_logged(caplog, monkeypatch):
    monkeypatch.delenv(SLACK_CONN_ID_ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="saas_metrics.notifiers.quality"):
        notify_quality_warnings(gate_context(), [WARNING])
    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("stripe_reconciliation (warning): warn; value 0.031" in message for message in messages)


def test_warnings_sent_to_slack(webhook):
    notify_quality_warnings(gate_context(), [WARNING])
    assert len(webhook.bodies) == 1
    assert "1 data quality warnings in quality_test run manual__test" in webhook.bodies[0]["text"]
    assert "stripe_reconciliation" in webhook.bodies[0]["text"]


def test_long_warning_list_is_cut(webhook):
    notify_quality_warnings(gate_context(), [WARNING] * 25)
    assert "... and 5 more" in webhook.bodies[0]["text"]


def test_failed_delivery_does_not_raise(monkeypatch, caplog):
    monkeypatch.setenv(SLACK_CONN_ID_ENV, "slack_missing")
    with caplog.at_level(logging.ERROR, logger="saas_metrics.notifiers.quality"):
        notify_quality_warnings(gate_context(), [WARNING])
    assert any("Could not send the quality warnings" in record.getMessage() for record in caplog.records)


def test_no_warnings_sends_nothing(webhook):
    notify_quality_warnings(gate_context(), [])
    assert webhook.bodies == []
