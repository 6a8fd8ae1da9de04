"""Delivery through a Slack incoming webhook connection (apache-airflow-providers-slack)."""

from __future__ import annotations

# Messages are cut at this length so that a long list cannot flood the channel.
MAX_TEXT_LENGTH = 3000


def send_slack_webhook(conn_id: str, text: str, context) -> None:
    """Send `text` through the Slack webhook connection `conn_id`. Errors propagate to the caller."""
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=text[:MAX_TEXT_LENGTH]).notify(context)


def bounded_lines(header: str, lines: list[str], max_lines: int = 20) -> str:
    """Join `header` and at most `max_lines` lines, ending with a count of the lines left out."""
    listed = lines[:max_lines]
    if len(lines) > max_lines:
        listed.append(f"... and {len(lines) - max_lines} more")
    return "\n".join([header, *(f"- {line}" for line in listed)])
