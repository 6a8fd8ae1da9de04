"""Operator that runs one Airbyte sync and waits for it, in the worker or deferred.

DAG files import this module while they are parsed, so the hook's SDK and the PostgreSQL hook
are imported inside methods.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowTaskTimeout

from saas_metrics.hooks.airbyte import (
    CANCELLED,
    FAILED,
    IN_PROGRESS_STATUSES,
    SUCCEEDED,
    AirbyteHook,
    AirbyteInvalidResponseError,
    JobSnapshot,
    parse_timestamp,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

ZERO_ROWS_POLICIES = ("ignore", "warn", "fail")

# The defer timeout is the trigger's own deadline plus this margin. The trigger normally reports
# the deadline itself, after cancelling the job. The margin leaves time for that cancel request
# and its retries. Only a trigger that stops responding reaches Airflow's defer timeout, which
# fails the task without cancelling the job.
DEFER_TIMEOUT_MARGIN = timedelta(minutes=10)

# Connection ids of the form 00000000-0000-0000-0000-0000000000NN are the placeholders in
# include/config/sources.yml. Airbyte generates random (version 4) UUIDs, never these.
PLACEHOLDER_CONNECTION_ID_PREFIX = "00000000-0000-0000-0000-"


class AirbyteSyncOperator(BaseOperator):
    """
    Run a sync of one Airbyte connection and wait until it finishes.

    Before it starts a sync, the operator lists the connection's jobs and attaches to a sync that
    is already pending, queued or running, so a retry, a rerun or a manual sync never makes it
    start a second one. A 409, or a create request without a response, leads to the same lookup before
    anything is posted again (see `AirbyteHook.start_sync`).

    While it waits, pending, queued, running and incomplete count as in progress; succeeded
    passes; failed, cancelled and any other status fail the task. When `timeout` or the task's
    `execution_timeout` passes, or the task is killed, the job is cancelled, in both modes. A
    failed cancel request is logged and never replaces the original error.

    XCom: `return_value` and `job_id` hold the job id; `job_status`, `rows_synced` and
    `bytes_synced` hold what Airbyte reported last. Each attempt is also recorded in the
    `analytics.ingestion_health` table of the `health_conn_id` warehouse.

    :param connection_id: Airbyte connection id (a UUID). Templated.
    :param airbyte_conn_id: Airflow connection of type `airbyte`. Templated.
    :param source_name: Source name recorded in `analytics.ingestion_health`; defaults to the
        task id. Templated.
    :param deferrable: Wait in the triggerer instead of holding a worker slot.
    :param poll_interval: Seconds between two status requests, in both modes.
    :param timeout: Maximum wait for the job in seconds (or a timedelta), counted from the start
        of the task attempt and including time spent pending or queued. When it passes, the job
        is cancelled and the task fails.
    :param on_zero_rows: What to do when a succeeded job reports 0 rows synced: `ignore`,
        `warn` (log a warning) or `fail` (fail the task, which may be retried).
    :param health_conn_id: PostgreSQL connection for `analytics.ingestion_health`; None turns
        recording off. Recording failures are logged and never fail the task.
    """

    template_fields: Sequence[str] = ("connection_id", "airbyte_conn_id", "source_name")
    ui_color = "#cfe3ff"

    def __init__(
        self,
        *,
        connection_id: str,
        airbyte_conn_id: str = "airbyte_default",
        source_name: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        timeout: float | timedelta = timedelta(hours=1),
        on_zero_rows: str = "warn",
        health_conn_id: str | None = "warehouse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.connection_id = connection_id
        self.airbyte_conn_id = airbyte_conn_id
        self.source_name = source_name
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.on_zero_rows = on_zero_rows
        self.health_conn_id = health_conn_id

        # Runtime state of the current attempt. on_kill may run before execute sets any of it.
        self.job_id: int | None = None
        self.job_status: str | None = None
        self._job: JobSnapshot | None = None
        self._attempt_started_at: datetime | None = None
        self._create_requested_at: datetime | None = None
        self._wait_deadline: float | None = None
        self._task_identity: dict[str, Any] = {}
        self._cancel_requested = False
        self._job_cancelled = False
        self._health_recorded = False

    @cached_property
    def hook(self) -> AirbyteHook:
        return AirbyteHook(airbyte_conn_id=self.airbyte_conn_id)

    @property
    def timeout_seconds(self) -> float:
        if isinstance(self.timeout, timedelta):
            return self.timeout.total_seconds()
        return float(self.timeout)

    # -- entry points --------------------------------------------------------------------------

    def execute(self, context: Context) -> int:
        self._validate_arguments()
        self._begin_attempt(context)
        try:
            job = self._start_or_attach()
            if self.deferrable and job.is_in_progress:
                self._defer(context, job)
            job = self._wait_for_job(job)
            return self._finish(context, job)
        except Exception as error:
            self._record_health(error=error)
            raise

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        attempt_started_at: str | None = None,
    ) -> int:
        """Resume after the trigger fired, switching on the event status and failing closed."""
        self._validate_arguments()
        self._begin_attempt(context, started_at=attempt_started_at)
        try:
            return self._complete_from_event(context, event)
        except Exception as error:
            self._record_health(error=error)
            raise

    def on_kill(self) -> None:
        """Cancel the job when the task is killed or its execution_timeout passes (best effort).

        It uses a new hook, because a kill signal can arrive while a request of the cached hook
        is half sent.
        """
        hook = AirbyteHook(airbyte_conn_id=self.airbyte_conn_id)
        try:
            if self.job_id is None and self._create_requested_at is not None:
                # The task stopped during the create request, so the job may exist although no id was read.
                job = hook.find_sync_job(self.connection_id, requested_since=self._create_requested_at)
                if job is not None:
                    self._remember(job)
            if self.job_id is not None and (
                self.job_status is None or self.job_status in IN_PROGRESS_STATUSES
            ):
                self._cancel_job("the task was killed or its execution_timeout passed", hook=hook)
        except Exception as error:
            self.log.warning(
                "Could not look up or cancel the sync of Airbyte connection %s while stopping the task: "
                "%s. Check the connection in the Airbyte UI and cancel any job that is still running.",
                self.connection_id,
                error,
            )
        finally:
            hook.close()
        self._record_health(
            error=(
                "The task was stopped (killed, or its execution_timeout passed) while Airbyte job "
                f"{self.job_id} was {self.job_status or 'not yet started'}."
            )
        )

    # -- steps ---------------------------------------------------------------------------------

    def _validate_arguments(self) -> None:
        try:
            uuid.UUID(str(self.connection_id))
        except ValueError:
            raise AirflowFailException(
                f"connection_id of task {self.task_id} is {self.connection_id!r}, which is not an "
                "Airbyte connection id (a UUID). Copy the id from the connection's page in the "
                "Airbyte UI (the part after /connections/ in its URL)."
            ) from None
        if str(self.connection_id).startswith(PLACEHOLDER_CONNECTION_ID_PREFIX):
            raise AirflowFailException(
                f"connection_id of task {self.task_id} is the placeholder {self.connection_id}. "
                "Replace it in include/config/sources.yml with the id of the Airbyte connection, or "
                "set SAAS_METRICS_INGESTION=demo to load the demo data instead."
            )
        if not isinstance(self.poll_interval, (int, float)) or self.poll_interval <= 0:
            raise AirflowFailException(
                f"poll_interval of task {self.task_id} is {self.poll_interval!r}. It must be a "
                "number of seconds greater than zero."
            )
        if not isinstance(self.timeout, (int, float, timedelta)) or self.timeout_seconds <= 0:
            raise AirflowFailException(
                f"timeout of task {self.task_id} is {self.timeout!r}. It must be a number of seconds "
                "or a timedelta greater than zero."
            )
        if self.on_zero_rows not in ZERO_ROWS_POLICIES:
            raise AirflowFailException(
                f"on_zero_rows of task {self.task_id} is {self.on_zero_rows!r}. Use one of "
                f"{', '.join(ZERO_ROWS_POLICIES)}."
            )

    def _begin_attempt(self, context: Context, *, started_at: str | None = None) -> None:
        ti = context["ti"]
        self._task_identity = {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "attempt": ti.try_number,
        }
        self._attempt_started_at = parse_timestamp(started_at) or datetime.now(UTC)
        self._wait_deadline = time.monotonic() + self.timeout_seconds

    def _start_or_attach(self) -> JobSnapshot:
        self._create_requested_at = datetime.now(UTC)
        job, attached = self.hook.start_sync(self.connection_id)
        self._remember(job)
        if attached:
            self.log.info(
                "Waiting for Airbyte job %s of connection %s, which was already %s",
                job.job_id,
                self.connection_id,
                job.status,
            )
        return job

    def _defer(self, context: Context, job: JobSnapshot) -> None:
        from saas_metrics.triggers.airbyte import AirbyteSyncTrigger

        now = time.time()
        assert self._wait_deadline is not None and self._attempt_started_at is not None
        end_time = now + max(0.0, self._wait_deadline - time.monotonic())
        execution_deadline = None
        if self.execution_timeout is not None:
            started = context["ti"].start_date or self._attempt_started_at
            execution_deadline = started.timestamp() + self.execution_timeout.total_seconds()
        first_deadline = min(end_time, execution_deadline) if execution_deadline is not None else end_time
        self.log.info(
            "Deferring while Airbyte job %s of connection %s is %s, polling every %s s",
            job.job_id,
            self.connection_id,
            job.status,
            self.poll_interval,
        )
        self.defer(
            trigger=AirbyteSyncTrigger(
                airbyte_conn_id=self.airbyte_conn_id,
                job_id=job.job_id,
                connection_id=self.connection_id,
                poll_interval=float(self.poll_interval),
                end_time=end_time,
                execution_deadline=execution_deadline,
            ),
            method_name="execute_complete",
            kwargs={"attempt_started_at": self._attempt_started_at.isoformat()},
            timeout=timedelta(seconds=max(0.0, first_deadline - now)) + DEFER_TIMEOUT_MARGIN,
        )

    def _wait_for_job(self, job: JobSnapshot) -> JobSnapshot:
        assert self._wait_deadline is not None
        while job.is_in_progress:
            remaining = self._wait_deadline - time.monotonic()
            if remaining <= 0:
                cancelled = self._cancel_job(f"the operator's timeout of {self.timeout_seconds:g} s passed")
                raise AirflowException(
                    f"Airbyte job {job.job_id} of connection {self.connection_id} was still "
                    f"{job.status} when the operator's timeout of {self.timeout_seconds:g} s passed. "
                    f"{_cancel_outcome(cancelled)} Check the connection in the Airbyte UI (a stuck "
                    "source, or no free workers for queued jobs), then clear the task to sync again."
                )
            time.sleep(min(float(self.poll_interval), remaining))
            previous_status = job.status
            try:
                job = self.hook.get_job(job.job_id)
            except AirbyteInvalidResponseError:
                # The job's state cannot be read, so it is stopped rather than left unwatched.
                self._cancel_job("its status could not be read")
                raise
            self._remember(job)
            if job.status != previous_status:
                self.log.info(
                    "Status of Airbyte job %s of connection %s: %s",
                    job.job_id,
                    self.connection_id,
                    job.status,
                )
        return job

    def _complete_from_event(self, context: Context, event: dict[str, Any] | None) -> int:
        if not isinstance(event, dict):
            raise AirflowFailException(
                f"The Airbyte trigger of task {self.task_id} resumed it without an event, so the "
                f"outcome of the sync of connection {self.connection_id} is unknown. Check the "
                "connection's job history in the Airbyte UI."
            )
        status = event.get("status")
        message = event.get("message") or ""
        job_data = event.get("job")
        if job_data:
            self._remember(JobSnapshot.from_dict(job_data))
        elif event.get("job_id") is not None:
            self.job_id = int(event["job_id"])

        if status in ("success", "failed", "cancelled"):
            if self._job is None or (status == "success" and self._job.status != SUCCEEDED):
                raise AirflowFailException(
                    f"The Airbyte trigger reported {status!r} for job {self.job_id} of connection "
                    f"{self.connection_id} without a matching job status, so the task fails. Check the "
                    "job in the Airbyte UI."
                )
            return self._finish(context, self._job)
        if status == "timeout":
            if event.get("cancelled"):
                self._cancel_requested = self._job_cancelled = True
                cancelled = True
            else:
                cancelled = self._cancel_job("the trigger's deadline passed")
            text = f"{message} {_cancel_outcome(cancelled)}"
            if event.get("reason") == "execution_timeout":
                self._record_health(error=text)
                raise AirflowTaskTimeout(text)
            raise AirflowException(text)
        if status == "error":
            if event.get("cancel_job"):
                self._cancel_job("the trigger could not read its status")
            if event.get("retryable"):
                raise AirflowException(message)
            raise AirflowFailException(message)
        raise AirflowFailException(
            f"The Airbyte trigger sent an event with status {status!r}, which this operator does "
            f"not handle, so the sync of connection {self.connection_id} counts as failed. "
            "Check the job in the Airbyte UI."
        )

    def _finish(self, context: Context, job: JobSnapshot) -> int:
        self._remember(job)
        self._push_xcom(context, job)
        where = f"Airbyte job {job.job_id} of connection {self.connection_id}"
        if job.status == SUCCEEDED:
            self._check_rows(job)
            self.log.info("%s succeeded: %s rows, %s bytes synced", where, job.rows_synced, job.bytes_synced)
            self._record_health()
            return job.job_id
        if job.status == FAILED:
            raise AirflowException(
                f"{where} failed. Open the job in the Airbyte UI for the sync logs. A retry of "
                "this task starts a new sync."
            )
        if job.status == CANCELLED:
            raise AirflowFailException(
                f"{where} was cancelled in Airbyte. Clear this task to start a new sync if the "
                "cancellation was not intended."
            )
        cancelled = self._cancel_job(f"its status {job.status!r} is not one this operator knows")
        raise AirflowFailException(
            f"{where} has status {job.status!r}, which this operator does not know, so the task "
            f"fails. {_cancel_outcome(cancelled)}"
        )

    def _check_rows(self, job: JobSnapshot) -> None:
        if self.on_zero_rows == "ignore":
            return
        where = f"Airbyte job {job.job_id} of connection {self.connection_id}"
        if job.rows_synced is None:
            self.log.warning(
                "%s succeeded without reporting rowsSynced, so the zero-row check was skipped", where
            )
            return
        if job.rows_synced != 0:
            return
        message = (
            f"{where} succeeded but synced 0 rows ({job.bytes_synced} bytes). A quiet source can "
            "do that, but so can a sync that failed to launch inside Airbyte; check the job's logs "
            "in the Airbyte UI."
        )
        if self.on_zero_rows == "fail":
            raise AirflowException(message)
        self.log.warning("%s", message)

    # -- helpers -------------------------------------------------------------------------------

    def _remember(self, job: JobSnapshot) -> None:
        self._job = job
        self.job_id = job.job_id
        self.job_status = job.status

    def _push_xcom(self, context: Context, job: JobSnapshot) -> None:
        ti = context["ti"]
        ti.xcom_push(key="job_id", value=job.job_id)
        ti.xcom_push(key="job_status", value=job.status)
        ti.xcom_push(key="rows_synced", value=job.rows_synced)
        ti.xcom_push(key="bytes_synced", value=job.bytes_synced)

    def _cancel_job(self, reason: str, *, hook: AirbyteHook | None = None) -> bool:
        """Ask Airbyte once to cancel the current job and return whether it accepted.

        It raises no Exception, because it runs while another error is being handled.
        """
        if self.job_id is None:
            return False
        if self._cancel_requested:
            return self._job_cancelled
        self._cancel_requested = True
        try:
            job = (hook or self.hook).cancel_job(self.job_id)
        except Exception as error:
            self.log.warning(
                "Could not cancel Airbyte job %s of connection %s after %s: %s. Cancel it in the "
                "Airbyte UI if it is still running.",
                self.job_id,
                self.connection_id,
                reason,
                error,
            )
            return False
        self._job_cancelled = True
        self._remember(job)
        self.log.warning(
            "Cancelled Airbyte job %s of connection %s because %s. Airbyte now reports it as %s.",
            self.job_id,
            self.connection_id,
            reason,
            job.status,
        )
        return True

    def _record_health(self, *, error: BaseException | str | None = None) -> None:
        """Write this attempt to analytics.ingestion_health once. Failures are only logged."""
        if self._health_recorded or not self.health_conn_id:
            return
        self._health_recorded = True
        from saas_metrics.ingestion_health import SyncAttemptRecord, record_sync_attempt

        job = self._job
        record = SyncAttemptRecord(
            source=self.source_name or self.task_id,
            connection_id=str(self.connection_id),
            job_id=self.job_id,
            status=self.job_status or "not_started",
            started_at=(job.started_at if job else None) or self._attempt_started_at,
            ended_at=datetime.now(UTC),
            rows_synced=job.rows_synced if job else None,
            bytes_synced=job.bytes_synced if job else None,
            attempt=self._task_identity.get("attempt"),
            error=str(error) if error is not None else None,
            dag_id=self._task_identity.get("dag_id"),
            run_id=self._task_identity.get("run_id"),
            task_id=self._task_identity.get("task_id", self.task_id),
        )
        record_sync_attempt(record, conn_id=self.health_conn_id)


def _cancel_outcome(cancelled: bool) -> str:
    if cancelled:
        return "The job was cancelled."
    return (
        "It could not be cancelled (see the warning in the log), so cancel it in the Airbyte UI "
        "if it is still running."
    )
