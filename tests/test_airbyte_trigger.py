"""AirbyteSyncTrigger against the fake Airbyte server, in an event loop and in the triggerer."""

from __future__ import annotations

import asyncio
import time

import pytest

from saas_metrics.triggers.airbyte import AirbyteSyncTrigger
from tests.fakes.airbyte_server import FakeAirbyteServer

CONNECTION_ID = "9d2b6c1e-8f4a-4e37-b0c5-1a2e3f4d5c6b"
AIRBYTE_CONN_ID = "airbyte_trigger_test"
JOB_PATH = r"/jobs/\d+"


@pytest.fixture
def fake_airbyte(monkeypatch):
    with FakeAirbyteServer() as fake:
        monkeypatch.setenv(f"AIRFLOW_CONN_{AIRBYTE_CONN_ID.upper()}", fake.connection_json())
        yield fake


def make_trigger(
    job_id: int, *, wait_seconds: float = 30, execution_seconds: float | None = None
) -> AirbyteSyncTrigger:
    now = time.time()
    return AirbyteSyncTrigger(
        airbyte_conn_id=AIRBYTE_CONN_ID,
        job_id=job_id,
        connection_id=CONNECTION_ID,
        poll_interval=0.02,
        end_time=now + wait_seconds,
        execution_deadline=now + execution_seconds if execution_seconds is not None else None,
    )


def first_event(trigger: AirbyteSyncTrigger) -> dict:
    async def collect():
        async for event in trigger.run():
            return event.payload
        return None

    return asyncio.run(collect())


def test_trigger_serialize_round_trip():
    trigger = make_trigger(4100, execution_seconds=60)

    classpath, kwargs = trigger.serialize()

    from airflow.sdk._shared.module_loading import import_string

    rebuilt = import_string(classpath)(**kwargs)
    assert classpath == "saas_metrics.triggers.airbyte.AirbyteSyncTrigger"
    assert rebuilt.serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("statuses", "event_status"),
    [
        (["pending", "running", "succeeded"], "success"),
        (["queued", "running", "succeeded"], "success"),
        (["running", "incomplete", "running", "succeeded"], "success"),
        (["running", "failed"], "failed"),
        (["running", "cancelled"], "cancelled"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else value,
)
def test_trigger_reports_final_status(fake_airbyte, statuses, event_status):
    job_id = fake_airbyte.add_job(CONNECTION_ID, statuses)

    event = first_event(make_trigger(job_id))

    assert event["status"] == event_status
    assert event["job"]["status"] == statuses[-1]
    assert event["job"]["job_id"] == job_id


def test_trigger_carries_rows_and_bytes(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running", "succeeded"], rows_synced=77, bytes_synced=1024)

    event = first_event(make_trigger(job_id))

    assert event["job"]["rows_synced"] == 77
    assert event["job"]["bytes_synced"] == 1024


def test_trigger_unknown_status_asks_for_cancel(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running", "running", "paused_by_admin"])

    event = first_event(make_trigger(job_id))

    assert event["status"] == "error"
    assert event["retryable"] is False
    assert event["cancel_job"] is True
    assert "paused_by_admin" in event["message"]


def test_trigger_job_not_found_is_final(fake_airbyte):
    event = first_event(make_trigger(999))

    assert event["status"] == "error"
    assert event["retryable"] is False
    assert event["cancel_job"] is False


def test_trigger_exhausted_retries_are_retryable(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=502, times=None)

    event = first_event(make_trigger(job_id))

    assert event["status"] == "error"
    assert event["retryable"] is True
    assert len(fake_airbyte.requests_to("GET", JOB_PATH)) == 4


def test_trigger_rides_out_5xx_burst(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running", "running", "succeeded"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=503, times=3)

    event = first_event(make_trigger(job_id))

    assert event["status"] == "success"


def test_trigger_refreshes_expired_token(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running", "running", "running", "succeeded"])
    fake_airbyte.expire_tokens_after_gets(1)

    event = first_event(make_trigger(job_id))

    assert event["status"] == "success"
    assert fake_airbyte.tokens_issued == 2


@pytest.mark.parametrize(
    ("wait_seconds", "execution_seconds", "reason"),
    [(0.3, None, "timeout"), (30, 0.3, "execution_timeout")],
    ids=["operator-timeout", "execution-timeout"],
)
def test_trigger_deadline_cancels_job(fake_airbyte, wait_seconds, execution_seconds, reason):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])

    event = first_event(make_trigger(job_id, wait_seconds=wait_seconds, execution_seconds=execution_seconds))

    assert event["status"] == "timeout"
    assert event["reason"] == reason
    assert event["cancelled"] is True
    assert fake_airbyte.jobs[job_id].cancelled is True


def test_trigger_deadline_reports_failed_cancel(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.add_fault("DELETE", JOB_PATH, status=500, times=None)

    event = first_event(make_trigger(job_id, wait_seconds=0.2))

    assert event["status"] == "timeout"
    assert event["cancelled"] is False


def test_trigger_never_blocks_event_loop(fake_airbyte, monkeypatch):
    # Every job read takes 0.3 s, and a blocking client would stall the loop for that long.
    # The heartbeat below measures the longest stall while the trigger polls.
    from airflow.sdk import BaseHook

    def no_sync_lookup(*args, **kwargs):
        raise AssertionError("the trigger read its connection with the blocking get_connection")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(no_sync_lookup))
    # A first run pays the one-time imports of the async stack, as a triggerer's first trigger does.
    warm_up_job = fake_airbyte.add_job(CONNECTION_ID, ["succeeded"])
    first_event(make_trigger(warm_up_job))
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running", "running", "succeeded"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=None, delay=0.3, times=None)

    async def main():
        gaps = []

        async def heartbeat():
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        beat = asyncio.create_task(heartbeat())
        async for event in make_trigger(job_id).run():
            beat.cancel()
            return event.payload, max(gaps)

    event, longest_stall = asyncio.run(main())

    assert event["status"] == "success"
    assert len(fake_airbyte.requests_to("GET", JOB_PATH)) >= 3
    assert longest_stall < 0.2


def test_trigger_on_kill_cancels_job(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])

    asyncio.run(make_trigger(job_id).on_kill())

    assert fake_airbyte.jobs[job_id].cancelled is True


def test_trigger_on_kill_swallows_cancel_failure(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.add_fault("DELETE", JOB_PATH, status=404, body='{"detail": "gone"}')

    asyncio.run(make_trigger(job_id).on_kill())

    assert fake_airbyte.jobs[job_id].cancelled is False


def run_in_triggerer_then_stop(fake_airbyte, trigger, *, user_action: bool) -> None:
    """Run `trigger` in Airflow's TriggerRunner and stop it after its second poll.

    With `user_action`, the trigger is cancelled the way the triggerer cancels it when a user
    marks, clears or kills the deferred task. Without it, the trigger is cancelled the way a
    triggerer shutdown cancels it.
    """
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    async def main():
        runner = TriggerRunner()
        task = asyncio.create_task(runner.run_trigger(1, trigger))
        runner.triggers[1] = {"task": task, "name": "sync_stripe", "events": 0, "is_watcher": False}
        await fake_airbyte.await_request("GET", JOB_PATH, count=2)
        if user_action:
            runner.to_cancel.append(1)
            await runner.cancel_triggers()
        else:
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_kill_while_deferred_cancels_job(fake_airbyte, monkeypatch):
    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])

    run_in_triggerer_then_stop(fake_airbyte, make_trigger(job_id), user_action=True)

    assert fake_airbyte.jobs[job_id].cancelled is True


def test_triggerer_restart_leaves_job_running(fake_airbyte, monkeypatch):
    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])

    run_in_triggerer_then_stop(fake_airbyte, make_trigger(job_id), user_action=False)

    assert fake_airbyte.jobs[job_id].cancelled is False
    assert fake_airbyte.requests_to("DELETE", JOB_PATH) == []
