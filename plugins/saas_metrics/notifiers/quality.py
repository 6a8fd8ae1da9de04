"""Notification of quality warnings: checks that warned, or warn-level checks not evaluated.

Warnings never stop a run. Each one is logged at WARNING level. When the environment variable
SAAS_METRICS_QUALITY_SLACK_CONN_ID names a Slack incoming webhook connection, one message that
lists them is also sent there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from saas_metrics.notifiers.slack import bounded_lines, send_slack_webhook

log = logging.getLogger(__name__)

SLACK_CONN_ID_ENV = "SAAS_METRICS_QUALITY_SLACK_CONN_ID"


def notify_quality_warnings(context, warnings: Sequence) -> None:
    """Log each warning and send them to the configured Slack connection, if any.

    `warnings` are saas_metrics.quality.records.CheckRecord objects (anything with `describe()`).
    A failed delivery is logged and does not fail the task, because warnings must let the run
    continue.
    """
    if not warnings:
        return
    dag = context.get("dag")
    header = f"{len(warnings)} data quality warnings in {getattr(dag, 'dag_id', None)} run {context.get('run_id')}:"
    lines = [warning.describe() for warning in warnings]
    log.warning(header)
    for line in lines:
        log.warning("Quality warning: %s", line)

    conn_id = os.environ.get(SLACK_CONN_ID_ENV)
    if not conn_id:
        return
    try:
        send_slack_webhook(conn_id, bounded_lines(header, lines), context)
    # The Slack hook raises connection, HTTP and API errors of several libraries.
    except Exception as error:  # noqa: BLE001
        log.error("Could not send the quality warnings through Slack connection %s: %s", conn_id, error)
    else:
        log.info("Sent %d quality warnings through Slack connection %s", len(warnings), conn_id)
