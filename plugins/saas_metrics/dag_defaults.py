"""default_args shared by every DAG of the project, so owner and retry policy live in one place."""

from __future__ import annotations

import os
from typing import Any

import pendulum

OWNER = "data-platform"
# First data interval of the daily and board DAGs: a run for an earlier day has no tasks.
DAILY_START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")


def default_args(*, retry_delay_minutes: int = 5, notify_failures: bool = False) -> dict[str, Any]:
    """Return a DAG's default_args: owner, retries and retry delay, and optionally on-call callbacks.

    Local runs (make demo, the tests) set SAAS_METRICS_TASK_RETRIES=0 to fail at the first error.
    """
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": int(os.environ.get("SAAS_METRICS_TASK_RETRIES", "2")),
        "retry_delay": pendulum.duration(minutes=retry_delay_minutes),
    }
    if notify_failures:
        from saas_metrics.notifiers.failure import failure_callbacks

        args["on_failure_callback"] = failure_callbacks()
    return args
