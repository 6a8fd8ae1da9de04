"""Notification that the monthly board report was held: its numbers were not published.

The message is logged at WARNING level. When the environment variable
SAAS_METRICS_BOARD_SLACK_CONN_ID names a Slack incoming webhook connection, it is also sent
there. A failed delivery fails the task, so that an undelivered hold shows in the UI.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence

from saas_metrics.notifiers.slack import bounded_lines, send_slack_webhook

log = logging.getLogger(__name__)

SLACK_CONN_ID_ENV = "SAAS_METRICS_BOARD_SLACK_CONN_ID"


def notify_board_report_held(
    context,
    month: dt.date,
    engine_arr: float | None,
    finance_arr: float | None,
    difference_ratio: float | None,
    reasons: Sequence[str] = (),
) -> str:
    """Log (and send, if configured) that the board report for `month` was held, and return the message.

    ARR amounts are in USD. None means the number is missing: finance has not reported the
    month, or the engine has no closed ARR for it. `reasons` lists the blocking checks.
    """
    message = board_report_held_message(month, engine_arr, finance_arr, difference_ratio)
    text = bounded_lines(message, list(reasons)) if reasons else message
    log.warning(text)
    conn_id = os.environ.get(SLACK_CONN_ID_ENV)
    if conn_id:
        send_slack_webhook(conn_id, text, context)
        log.info("Sent the board report hold for %s through Slack connection %s", month, conn_id)
    return message


def board_report_held_message(
    month: dt.date, engine_arr: float | None, finance_arr: float | None, difference_ratio: float | None
) -> str:
    """Return 'board report held: ...' with both ARR numbers and their difference."""
    engine = "missing" if engine_arr is None else f"{engine_arr:,.2f} USD"
    finance = "not reported" if finance_arr is None else f"{finance_arr:,.2f} USD"
    if engine_arr is not None and finance_arr is not None:
        ratio = "n/a" if difference_ratio is None else f"{difference_ratio:+.2%}"
        difference = f"difference {engine_arr - finance_arr:+,.2f} USD ({ratio} of finance)"
    else:
        difference = "difference unknown"
    return (
        f"board report held: the board metrics of {month:%Y-%m} were not published "
        f"(engine ARR {engine}, finance ARR {finance}, {difference}); "
        "analytics.board_deck_latest still shows the last validated month"
    )
