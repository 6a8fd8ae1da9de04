"""Fixtures for tests that send notifications: capture servers and the connections of the shipped channels.

The conftest.py of each test folder that sends notifications imports these fixtures. The
connections are the ones that include/config/alerts.yml names, set as AIRFLOW_CONN_* variables
pointing at the capture servers, so the tests deliver through the shipped configuration.
"""

from __future__ import annotations

import socket

import pytest

from helpers.capture_servers import SmtpServer, WebhookServer, slack_connection, smtp_connection

SLACK_CONNECTIONS = ("SLACK_EXEC_TEAM", "SLACK_CS_TEAM", "SLACK_ENG_LEADS", "SLACK_DATA_ONCALL")


def unused_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def webhook():
    server = WebhookServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def claim_dir(tmp_path, monkeypatch):
    """Keep local notification claims of the test in its own folder."""
    from saas_metrics.notifiers import notification_log

    path = tmp_path / "notification-claims"
    monkeypatch.setattr(notification_log, "CLAIM_DIR", path)
    return path


@pytest.fixture
def shipped_channels(webhook, smtp_server, claim_dir, monkeypatch):
    """Point every Slack connection of the shipped channels at `webhook` and smtp_default at `smtp_server`.

    Each webhook request's path is the lowercase connection id, for example /slack_exec_team.
    """
    for name in SLACK_CONNECTIONS:
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", slack_connection(webhook.url(f"/{name.lower()}")))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(smtp_server.port))


@pytest.fixture
def failing_webhook():
    """A webhook that answers every request with HTTP 500."""
    server = WebhookServer(status=500).start()
    yield server
    server.stop()
