"""On-call notifications for failed DAG runs and for board reports held by reconciliation.

Failure notifications are task-level ``on_failure_callback``s (put ``failure_callbacks()`` in a
DAG's ``default_args``). They run in the task's own process, so they behave the same under the
scheduler, ``airflow dags test`` and ``airflow tasks test``. DAG-level callbacks would run in
the dag-processor, and on Airflow 3.3.2 a notifier used as a DAG-level callback fails under
``airflow dags test``. Airflow calls ``on_failure_callback`` only after a task's last try, and
a retry calls ``on_retry_callback`` instead. The callback checks the try number as well, in
case a failure path outside the task runner (such as a heartbeat timeout handled by the
scheduler) calls it while tries are left.

Several tasks of one run can fail. The first callback to claim the run sends the message and
the others send nothing (see notification_log). A callback raises no Exception: any error of its own
is logged with its traceback, and the task's failure is reported by Airflow as usual.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shlex
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from saas_metrics.notifiers.delivery import Message
from saas_metrics.notifiers.notification_log import NotificationKey, NotificationOutcome, send_once

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
MAX_BLOCKED_TASKS_SHOWN = 30


@dataclass(frozen=True)
class FailedTask:
    """The facts of a failed task that on-call needs, read from the callback context."""

    dag_id: str
    task_id: str
    run_id: str
    clear_number: int
    try_number: int | None
    max_tries: int | None
    logical_date: dt.datetime | None
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    error: str
    log_url: str | None
    blocked_tasks: tuple[str, ...] | None
    last_success: str


def _first_present(*values):
    return next((value for value in values if value is not None), None)


def is_last_try(context) -> bool:
    """Return False when the failed task still has a retry left."""
    ti = context["ti"]
    # str() of the state enum is "TaskInstanceState.UP_FOR_RETRY", of a plain string "up_for_retry".
    state = str(getattr(ti, "state", "") or "").lower()
    if state.endswith("up_for_retry"):
        return False
    try_number = getattr(ti, "try_number", None)
    max_tries = _first_present(getattr(ti, "max_tries", None), getattr(context.get("task"), "retries", None))
    if try_number is None or max_tries is None:
        return True
    return try_number > max_tries


def _describe_error(error) -> str:
    if error is None:
        return "no exception reached the callback (the task may have been killed or timed out); read the log"
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + " [truncated, see the log]"


def _last_success(ti) -> str:
    try:
        previous = ti.get_previous_dagrun(state="success")
    except Exception as error:
        return f"unknown (the look-up failed: {type(error).__name__}: {error})"
    if previous is None:
        return "none before this run"
    return (
        f"{previous.run_id}, data interval {_iso(previous.data_interval_start)} to "
        f"{_iso(previous.data_interval_end)}, ended {_iso(previous.end_date)}"
    )


def _log_url(ti) -> str | None:
    try:
        return ti.log_url
    except Exception as error:
        log.warning("Could not build the log URL of %s: %s", getattr(ti, "task_id", "?"), error)
        return None


def _blocked_tasks(task) -> tuple[str, ...] | None:
    """Return the ids of every task downstream of `task`, or None when they cannot be read."""
    try:
        return tuple(sorted(task.get_flat_relative_ids(upstream=False)))
    except Exception as error:
        log.warning("Could not list the downstream tasks of %s: %s", getattr(task, "task_id", "?"), error)
        return None


def failed_task_from_context(context) -> FailedTask:
    ti = context["ti"]
    task = context.get("task") or getattr(ti, "task", None)
    dag_run = context.get("dag_run")
    return FailedTask(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        clear_number=int(getattr(dag_run, "clear_number", 0) or 0),
        try_number=getattr(ti, "try_number", None),
        max_tries=getattr(ti, "max_tries", None),
        logical_date=_first_present(context.get("logical_date"), getattr(dag_run, "logical_date", None)),
        data_interval_start=_first_present(
            context.get("data_interval_start"), getattr(dag_run, "data_interval_start", None)
        ),
        data_interval_end=_first_present(
            context.get("data_interval_end"), getattr(dag_run, "data_interval_end", None)
        ),
        error=_describe_error(context.get("exception")),
        log_url=_log_url(ti),
        blocked_tasks=_blocked_tasks(task),
        last_success=_last_success(ti),
    )


def _iso(value) -> str:
    return value.isoformat() if value is not None else "none"


def clear_command(dag_id: str, task_id: str, logical_date: dt.datetime) -> str:
    """Return the CLI command that clears one task and its downstream tasks in one run."""
    moment = logical_date.isoformat()
    return shlex.join(
        [
            "airflow",
            "tasks",
            "clear",
            dag_id,
            "-t",
            f"^{re.escape(task_id)}$",
            "-d",
            "-s",
            moment,
            "-e",
            moment,
        ]
    )


def backfill_command(dag_id: str, run_date: dt.datetime) -> str:
    """Return the CLI command that reruns the run at `run_date` as a one-run backfill.

    Backfill selects runs by the timetable's logical date, which is the data interval start
    for CronDataIntervalTimetable and for trigger timetables without an interval.
    """
    moment = run_date.isoformat()
    return shlex.join(
        [
            "airflow",
            "backfill",
            "create",
            "--dag-id",
            dag_id,
            "--from-date",
            moment,
            "--to-date",
            moment,
            "--reprocess-behavior",
            "failed",
        ]
    )


def _rerun_lines(
    dag_id: str, task_id: str, logical_date: dt.datetime | None, interval_start: dt.datetime | None
) -> list[str]:
    if logical_date is None:
        return ["Rerun: this run has no logical date, so clear the task in the UI (Grid view, Clear)."]
    # A manual run (or `airflow dags test`) can have a logical date that is not the timetable's
    # logical date of its interval, so the backfill is placed by the interval start.
    # NOTE: for a CronTriggerTimetable with an interval the timetable's logical date is the
    # interval end, and this backfill command would select the next run instead.
    return [
        "Rerun this task and everything downstream of it in this run (after fixing the cause):",
        f"  {clear_command(dag_id, task_id, logical_date)}",
        "Or rerun the whole run as a backfill (needs a running scheduler and API server):",
        f"  {backfill_command(dag_id, interval_start or logical_date)}",
    ]


def build_failure_message(failed: FailedTask) -> Message:
    tries = f"try {failed.try_number}" + (
        f" of {failed.max_tries + 1}" if failed.max_tries is not None else ""
    )
    if failed.blocked_tasks is None:
        blocked_line = "Blocked downstream tasks: unknown (see the Grid view)"
    else:
        listed = ", ".join(failed.blocked_tasks[:MAX_BLOCKED_TASKS_SHOWN]) or "none"
        if len(failed.blocked_tasks) > MAX_BLOCKED_TASKS_SHOWN:
            listed += f" and {len(failed.blocked_tasks) - MAX_BLOCKED_TASKS_SHOWN} more"
        blocked_line = f"Blocked downstream tasks ({len(failed.blocked_tasks)}): {listed}"
    lines = [
        f"DAG: {failed.dag_id}",
        f"Task: {failed.task_id} ({tries}, no retries left)",
        f"Run: {failed.run_id}",
        f"Data interval: {_iso(failed.data_interval_start)} to {_iso(failed.data_interval_end)}",
        f"Error: {failed.error}",
        f"Log: {failed.log_url or 'not available'}",
        blocked_line,
        f"Last successful run: {failed.last_success}",
        "",
        "What to do: read the log, then the triage notes in the DAG's documentation (DAG page, Docs).",
        *_rerun_lines(failed.dag_id, failed.task_id, failed.logical_date, failed.data_interval_start),
        "",
        "Other tasks of this run that fail as well send no further message.",
    ]
    return Message(
        subject=f"Airflow: {failed.dag_id} failed at {failed.task_id} ({failed.run_id})",
        text="\n".join(lines),
    )


def _load_channels(config_path: str | None, kind: str):
    from saas_metrics.alerts.config import load_alerts_config

    return load_alerts_config(config_path).notification_channels(kind)


class PipelineFailureCallback:
    """The on_failure_callback that sends one on-call message per failed DAG run.

    :param config_path: alerts file with the pipeline_failure channels; default include/config/alerts.yml.
    :param conn_id: Airflow connection of the warehouse with analytics.notification_log.
    """

    def __init__(self, *, config_path: str | None = None, conn_id: str = "warehouse") -> None:
        self.config_path = config_path
        self.conn_id = conn_id

    def __call__(self, context) -> None:
        ti = context.get("ti")
        try:
            self.notify(context)
        except Exception:
            log.exception(
                "The failure notification for %s.%s run %s failed; on-call was not notified by this callback",
                getattr(ti, "dag_id", "?"),
                getattr(ti, "task_id", "?"),
                getattr(ti, "run_id", "?"),
            )

    def notify(self, context) -> NotificationOutcome | None:
        if not is_last_try(context):
            ti = context["ti"]
            log.info("Task %s failed with retries left (try %s); no notification", ti.task_id, ti.try_number)
            return None
        failed = failed_task_from_context(context)
        message = build_failure_message(failed)
        key = NotificationKey(
            kind="pipeline_failure",
            dag_id=failed.dag_id,
            run_id=failed.run_id,
            clear_number=failed.clear_number,
        )
        return send_once(
            key,
            message,
            _load_channels(self.config_path, "pipeline_failure"),
            conn_id=self.conn_id,
            task_id=failed.task_id,
            claimed_by=f"{failed.task_id} try {failed.try_number}",
        )


def failure_callbacks(*, config_path: str | None = None, conn_id: str = "warehouse") -> list:
    """Return the value for ``default_args["on_failure_callback"]``.

    Creating the callbacks reads no file and no connection, so DAG files can call this at parse time.
    """
    return [PipelineFailureCallback(config_path=config_path, conn_id=conn_id)]


def _month_label(month) -> str:
    if isinstance(month, dt.date):
        return month.strftime("%Y-%m")
    text = str(month)
    if not re.fullmatch(r"\d{4}-\d{2}(-01)?", text):
        raise ValueError(f"month {month!r} is not a date or a YYYY-MM string")
    return text[:7]


def _amount(value) -> str:
    return f"{Decimal(str(value)):,.2f}"


def build_board_report_held_message(
    context, month: str, engine_arr, finance_arr, difference_ratio, tolerance=None
) -> Message:
    ti = context["ti"]
    tolerance_text = f" (tolerance {Decimal(str(tolerance)):.2%})" if tolerance is not None else ""
    dag_run = context.get("dag_run")
    logical_date = _first_present(context.get("logical_date"), getattr(dag_run, "logical_date", None))
    interval_start = _first_present(
        context.get("data_interval_start"), getattr(dag_run, "data_interval_start", None)
    )
    lines = [
        f"The board report for {month} is held: the metrics engine's ARR and finance's ARR differ by "
        f"{Decimal(str(difference_ratio)):.2%}{tolerance_text}.",
        f"Engine ARR: {_amount(engine_arr)}",
        f"Finance ARR: {_amount(finance_arr)}",
        "",
        f"What to do: finance and data-platform compare analytics.mrr_reconciliation for {month} by currency "
        "and explain the difference (missing invoices, FX rates, timestamps in local time). The report "
        "stays held until the reconciliation passes.",
        *_rerun_lines(ti.dag_id, ti.task_id, logical_date, interval_start),
        "",
        f"Run: {ti.dag_id} / {ti.run_id}, task {ti.task_id}",
    ]
    return Message(subject=f"Board report for {month} held by reconciliation", text="\n".join(lines))


def notify_board_report_held(
    context: dict[str, Any],
    month,
    engine_arr,
    finance_arr,
    difference_ratio,
    *,
    tolerance=None,
    config_path: str | None = None,
    conn_id: str = "warehouse",
    raise_on_failure: bool = False,
) -> NotificationOutcome:
    """Tell finance and the exec team that the board report of `month` is held, once per run and month.

    Call it from the task that stops the report, with that task's context. `month` is a date
    or "YYYY-MM"; amounts and ratios are numbers. Returns the outcome; with
    ``raise_on_failure`` a message that reached no channel raises RuntimeError, so the task fails.
    """
    month_label = _month_label(month)
    ti = context["ti"]
    key = NotificationKey(
        kind="board_report_held",
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        clear_number=int(getattr(context.get("dag_run"), "clear_number", 0) or 0),
        subject=month_label,
    )
    message = build_board_report_held_message(
        context, month_label, engine_arr, finance_arr, difference_ratio, tolerance
    )
    outcome = send_once(
        key,
        message,
        _load_channels(config_path, "board_report_held"),
        conn_id=conn_id,
        task_id=ti.task_id,
        claimed_by=f"{ti.task_id} try {ti.try_number}",
    )
    if raise_on_failure and outcome.status == "failed":
        raise RuntimeError(
            f"The board-report-held message for {month_label} reached no channel: {outcome.error}"
        )
    return outcome
