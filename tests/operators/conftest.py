"""Fixtures of the operator tests that send notifications."""

from helpers.notification_fixtures import (  # noqa: F401 (pytest fixtures)
    claim_dir,
    failing_webhook,
    shipped_channels,
    smtp_server,
    webhook,
)
