"""notify_board_report_held: the message has both ARR numbers and their difference."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException

from helpers.quality import gate_context
from helpers.webhook import WebhookServer
from saas_metrics.notifiers.board import SLACK_CONN_ID_ENV, notify_board_report_held

MAY = dt.date(2026, 5, 1)


@pytest.fixture(autouse=True)
def no_slack(monkeypatch):
    monkeypatch.delenv(SLACK_CONN_ID_ENV, raising=False)


def test_message_has_both_numbers():
    message = notify_board_report_held(gate_context(), MAY, 1_209_600.0, 1_200_000.0, 0.008)
    assert message.startswith("board report held: the board metrics of 2026-05 were not published")
    assert "engine ARR 1,209,600.00 USD" in message
    assert "finance ARR 1,200,000.00 USD" in message
    assert "difference +9,600.00 USD (+0.80% of finance)" in message


def test_missing_finance_report_is_named():
    message = notify_board_report_held(gate_context(), MAY, 1_209_600.0, None, None)
    assert "finance ARR not reported" in message
    assert "difference unknown" in message


def test_hold_sent_with_reasons(monkeypatch):
    with WebhookServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_BOARD", server.connection_json())
        monkeypatch.setenv(SLACK_CONN_ID_ENV, "slack_board")
        notify_board_report_held(
            gate_context(), MAY, 1_209_600.0, 1_200_000.0, 0.008, reasons=["arr_matches_finance: failed"]
        )
    assert "- arr_matches_finance: failed" in server.bodies[0]["text"]


def test_failed_delivery_raises(monkeypatch):
    monkeypatch.setenv(SLACK_CONN_ID_ENV, "slack_missing")
    with pytest.raises(AirflowNotFoundException, match="slack_missing"):
        notify_board_report_held(gate_context(), MAY, 1_209_600.0, 1_200_000.0, 0.008)
