"""Fixtures of the notifier tests: capture servers and the shipped channels pointed at them."""

from helpers.notification_fixtures import (  # noqa: F401 (pytest fixtures)
    claim_dir,
    failing_webhook,
    shipped_channels,
    smtp_server,
    webhook,
)
