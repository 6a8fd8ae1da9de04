"""Trigger that waits for an Airbyte job in the triggerer, with the hook's async client.

Every request goes through httpx.AsyncClient (the SDK's `*_async` methods) and the connection
is read with `aget_connection`, so no request blocks the triggerer's event loop.

The first use of the SDK imports its modules and loads the CA bundle, about 0.3 s in all on a
2-vCPU machine. This module does that work when the triggerer loads the class, instead of inside
the event loop at the first poll.

NOTE: anyio, which httpx's async transport uses, still imports its asyncio backend on the first
request of the process (about 0.15 s, measured with cProfile), inside the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import airbyte_api.jobs  # noqa: F401 - loaded here, not in the event loop (see module docstring)
from airbyte_api import api, errors, models
from airflow.triggers.base import BaseTrigger, TriggerEvent

from saas_metrics.hooks.airbyte import (
    CANCELLED,
    FAILED,
    SUCCEEDED,
    AirbyteError,
    AirbyteHook,
    AirbyteInvalidResponseError,
    AirbytePermanentError,
    JobSnapshot,
    shared_ssl_context,
)

# The SDK's packages import each class on first attribute access.
_SDK_CLASSES_USED = (
    api.GetJobRequest,
    api.CancelJobRequest,
    models.Security,
    models.JobResponse,
    errors.SDKError,
)
shared_ssl_context()

EXECUTION_TIMEOUT = "execution_timeout"
WAIT_TIMEOUT = "timeout"


class AirbyteSyncTrigger(BaseTrigger):
    """
    Poll one Airbyte job until it finishes or a deadline passes, then fire one event.

    Event statuses:

    - `success`, `failed` and `cancelled` carry the job as Airbyte reported it last.
    - `timeout`: a deadline passed and the trigger asked Airbyte to cancel the job. `reason` is
      `timeout` or `execution_timeout`, and `cancelled` is True when Airbyte accepted the cancel.
    - `error`: the job could not be read. `retryable` is True when a task retry may help, and
      `cancel_job` is True when the operator should still try to cancel the job.

    :param airbyte_conn_id: Airflow connection of type `airbyte`.
    :param job_id: Airbyte job to watch.
    :param connection_id: Airbyte connection the job belongs to, for messages.
    :param poll_interval: Seconds between two status requests.
    :param end_time: Unix time when the operator's own timeout passes.
    :param execution_deadline: Unix time when the task's execution_timeout passes, or None.
    """

    def __init__(
        self,
        *,
        airbyte_conn_id: str,
        job_id: int,
        connection_id: str,
        poll_interval: float,
        end_time: float,
        execution_deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.airbyte_conn_id = airbyte_conn_id
        self.job_id = job_id
        self.connection_id = connection_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.execution_deadline = execution_deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "airbyte_conn_id": self.airbyte_conn_id,
                "job_id": self.job_id,
                "connection_id": self.connection_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "execution_deadline": self.execution_deadline,
            },
        )

    @property
    def _where(self) -> str:
        return f"Airbyte job {self.job_id} of connection {self.connection_id}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = AirbyteHook(airbyte_conn_id=self.airbyte_conn_id)
        try:
            payload = await self._wait(hook)
        finally:
            await hook.aclose()
        yield TriggerEvent(payload)

    async def on_kill(self) -> None:
        """Cancel the job when a user marks, clears or kills the deferred task.

        The triggerer of Airflow 3.3 calls this only for user actions, not for its own restarts,
        so a job is never cancelled because the triggerer moved the trigger elsewhere.
        """
        hook = AirbyteHook(airbyte_conn_id=self.airbyte_conn_id)
        try:
            job = await hook.acancel_job(self.job_id)
        except (AirbyteError, AirbytePermanentError) as error:
            self.log.warning(
                "Could not cancel %s after the deferred task was stopped: %s. Cancel it in the "
                "Airbyte UI if it is still running.",
                self._where,
                error,
            )
        else:
            self.log.warning(
                "Cancelled %s because the deferred task was stopped. Airbyte now reports it as %s.",
                self._where,
                job.status,
            )
        finally:
            await hook.aclose()

    async def _wait(self, hook: AirbyteHook) -> dict[str, Any]:
        last_status: str | None = None
        while True:
            deadline_passed = self._deadline_passed(time.time())
            if deadline_passed is not None:
                return await self._timeout_event(hook, deadline_passed, last_status)
            try:
                job = await hook.aget_job(self.job_id)
            except AirbyteInvalidResponseError as error:
                return self._error_event(str(error), retryable=False, cancel_job=True)
            except AirbytePermanentError as error:
                return self._error_event(str(error), retryable=False, cancel_job=False)
            except AirbyteError as error:
                # Transient failures were already retried with backoff inside the hook.
                return self._error_event(
                    f"{error} The job may still be running; a retry of the task attaches to it.",
                    retryable=True,
                    cancel_job=False,
                )
            if job.status != last_status:
                self.log.info("Status of %s: %s", self._where, job.status)
                last_status = job.status
            if job.is_in_progress:
                await asyncio.sleep(self._sleep_seconds(time.time()))
                continue
            return self._job_event(job)

    def _deadline_passed(self, now: float) -> str | None:
        if self.execution_deadline is not None and now >= self.execution_deadline:
            return EXECUTION_TIMEOUT
        if now >= self.end_time:
            return WAIT_TIMEOUT
        return None

    def _sleep_seconds(self, now: float) -> float:
        deadline = self.end_time
        if self.execution_deadline is not None:
            deadline = min(deadline, self.execution_deadline)
        return max(0.0, min(self.poll_interval, deadline - now))

    def _job_event(self, job: JobSnapshot) -> dict[str, Any]:
        statuses = {SUCCEEDED: "success", FAILED: "failed", CANCELLED: "cancelled"}
        if job.status in statuses:
            return {
                "status": statuses[job.status],
                "message": f"{self._where} finished with status {job.status}.",
                "job_id": job.job_id,
                "job": job.to_dict(),
            }
        return {
            **self._error_event(
                f"{self._where} has status {job.status!r}, which this trigger does not know.",
                retryable=False,
                cancel_job=True,
            ),
            "job": job.to_dict(),
        }

    def _error_event(self, message: str, *, retryable: bool, cancel_job: bool) -> dict[str, Any]:
        return {
            "status": "error",
            "message": message,
            "job_id": self.job_id,
            "retryable": retryable,
            "cancel_job": cancel_job,
        }

    async def _timeout_event(self, hook: AirbyteHook, reason: str, last_status: str | None) -> dict[str, Any]:
        if reason == EXECUTION_TIMEOUT:
            limit = "the task's execution_timeout"
        else:
            limit = "the operator's timeout"
        payload: dict[str, Any] = {
            "status": "timeout",
            "reason": reason,
            "job_id": self.job_id,
            "message": f"{self._where} was still {last_status or 'in progress'} when {limit} passed.",
            "cancelled": False,
        }
        try:
            job = await hook.acancel_job(self.job_id)
        except (AirbyteError, AirbytePermanentError) as error:
            self.log.warning("Could not cancel %s after %s passed: %s", self._where, limit, error)
            return payload
        self.log.warning("Cancelled %s because %s passed", self._where, limit)
        return {**payload, "cancelled": True, "job": job.to_dict()}
