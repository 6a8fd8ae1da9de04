"""Send one message through an ordered list of channels with the providers' notifiers.

Slack channels use SlackWebhookNotifier (apache-airflow-providers-slack) and e-mail channels
use SmtpNotifier (apache-airflow-providers-smtp). The Airflow connection named by the channel
contains the webhook URL or the SMTP server. Channels are tried in order: the first one that
delivers ends the attempt, and each failure is logged with its error (for Slack, the HTTP
status) before the next channel is tried.

For local runs (the demo, the test suite), SAAS_METRICS_NOTIFICATIONS=outbox replaces every
channel with a local outbox: each message is appended to output/notifications/outbox.jsonl
and logged, and counts as delivered through the channel "local_outbox".
"""

from __future__ import annotations

import html
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from saas_metrics.alerts.config import Channel

log = logging.getLogger(__name__)

# Seconds a Slack webhook request may take before the channel counts as failed.
SLACK_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Message:
    """A complete notification: a one-line subject and a plain-text body."""

    subject: str
    text: str


@dataclass(frozen=True)
class DeliveryAttempt:
    channel: str
    error: str | None = None


@dataclass
class DeliveryResult:
    """Outcome of one delivery: the channel that delivered (None if all failed) and every attempt."""

    channel: str | None = None
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return self.channel is not None

    def error_summary(self) -> str:
        return "; ".join(f"{attempt.channel}: {attempt.error}" for attempt in self.attempts if attempt.error)


def _slack_text(message: Message) -> str:
    # Slack's mrkdwn treats &, < and > as control characters, so only those are escaped.
    escaped = [
        part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for part in (message.subject, message.text)
    ]
    return f"*{escaped[0]}*\n{escaped[1]}"


def _email_html(message: Message) -> str:
    return f'<pre style="font-family: monospace">{html.escape(message.text)}</pre>'


def build_notifier(channel: Channel, message: Message):
    """Return the provider notifier that sends `message` to `channel`."""
    if channel.type == "slack_webhook":
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        return SlackWebhookNotifier(
            slack_webhook_conn_id=channel.conn_id,
            text=_slack_text(message),
            timeout=SLACK_TIMEOUT_SECONDS,
        )
    if channel.type == "email":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier(
            to=list(channel.to),
            from_email=channel.from_email,
            subject=message.subject,
            html_content=_email_html(message),
            smtp_conn_id=channel.conn_id,
        )
    raise ValueError(f"Channel {channel.name}: unknown channel type {channel.type!r}")


NOTIFICATIONS_MODE_ENV = "SAAS_METRICS_NOTIFICATIONS"
OUTBOX_CHANNEL = "local_outbox"


def write_to_outbox(message: Message, label: str) -> DeliveryResult:
    """Append `message` to the local outbox file and log it, in place of every channel."""
    from saas_metrics import paths

    # Read the variable at call time: tests and the demo point it at a folder of their own.
    output_dir = Path(os.environ.get("SAAS_METRICS_OUTPUT_DIR") or paths.OUTPUT_DIR)
    outbox = output_dir / "notifications" / "outbox.jsonl"
    outbox.parent.mkdir(parents=True, exist_ok=True)
    record = {"written_at": datetime.now(UTC).isoformat(), "label": label, **message.__dict__}
    with outbox.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    log.warning(
        "%s=outbox: %s written to %s instead of being sent. Subject: %s",
        NOTIFICATIONS_MODE_ENV,
        label,
        outbox,
        message.subject,
    )
    return DeliveryResult(channel=OUTBOX_CHANNEL, attempts=[DeliveryAttempt(channel=OUTBOX_CHANNEL)])


def deliver(channels: tuple[Channel, ...] | list[Channel], message: Message, *, label: str) -> DeliveryResult:
    """Send `message` through the first channel that works; `label` names the message in logs."""
    if os.environ.get(NOTIFICATIONS_MODE_ENV) == "outbox":
        return write_to_outbox(message, label)
    result = DeliveryResult()
    for position, channel in enumerate(channels, start=1):
        try:
            # notify() rather than calling the notifier: calling it would render the text as a
            # Jinja template, and an error message quoted in the text may contain "{{".
            # The empty context is enough because every field is already filled in.
            build_notifier(channel, message).notify({})
        except Exception as error:
            result.attempts.append(
                DeliveryAttempt(channel=channel.name, error=f"{type(error).__name__}: {error}")
            )
            next_step = f"trying {channels[position].name}" if position < len(channels) else "no channel left"
            log.warning(
                "Delivery of %s through channel %s (%s, connection %s) failed: %s: %s; %s",
                label,
                channel.name,
                channel.type,
                channel.conn_id,
                type(error).__name__,
                error,
                next_step,
            )
            continue
        result.attempts.append(DeliveryAttempt(channel=channel.name))
        result.channel = channel.name
        log.info("Delivered %s through channel %s (connection %s)", label, channel.name, channel.conn_id)
        return result
    log.error("Delivery of %s failed on every channel: %s", label, result.error_summary())
    return result
