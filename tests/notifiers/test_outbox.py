"""The local outbox that replaces every channel when SAAS_METRICS_NOTIFICATIONS=outbox."""

from __future__ import annotations

import json

from saas_metrics.alerts.config import Channel
from saas_metrics.notifiers.delivery import OUTBOX_CHANNEL, Message, deliver


def test_outbox_mode_writes_instead_of_sending(monkeypatch, tmp_path):
    monkeypatch.setenv("SAAS_METRICS_NOTIFICATIONS", "outbox")
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path))
    unreachable = Channel(name="slack_nowhere", type="slack_webhook", conn_id="no_such_connection")
    result = deliver([unreachable], Message(subject="MRR dropped", text="MRR fell 12 %"), label="alert test")
    records = [json.loads(line) for line in (tmp_path / "notifications" / "outbox.jsonl").read_text().splitlines()]
    assert result.channel == OUTBOX_CHANNEL
    assert records[0]["subject"] == "MRR dropped"
    assert records[0]["label"] == "alert test"


def test_channels_mode_tries_the_channel(monkeypatch, tmp_path):
    monkeypatch.delenv("SAAS_METRICS_NOTIFICATIONS", raising=False)
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path))
    unreachable = Channel(name="slack_nowhere", type="slack_webhook", conn_id="no_such_connection")
    result = deliver([unreachable], Message(subject="MRR dropped", text="text"), label="alert test")
    assert result.delivered is False
    assert not (tmp_path / "notifications").exists()
