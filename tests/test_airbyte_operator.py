"""AirbyteSyncOperator run through Airflow's dag.test() against the fake Airbyte server.

Most tests run twice, in the worker and deferred. Under dag.test() the trigger runs inline. A
task that may be retried gets `retries=1` and no retry delay, so its `try_number` shows whether
a failure was final (1) or retryable (2).
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, timedelta
from types import SimpleNamespace

import pytest

from tests.fakes.airbyte_server import FakeAirbyteServer
from tests.fakes.dag_runs import START_DATE, run_dag, task_xcoms

CONNECTION_ID = "6f1f3a6e-2c5d-4f3a-9a57-3f0c2b8d9e11"
AIRBYTE_CONN_ID = "airbyte_fake"
TASK_ID = "sync_stripe"
JOB_PATH = r"/jobs/\d+"


@pytest.fixture
def fake_airbyte(monkeypatch):
    with FakeAirbyteServer() as fake:
        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_FAKE", fake.connection_json())
        yield fake


@pytest.fixture
def logged_text(caplog):
    """Return a function that returns everything logged so far, through structlog or logging.

    Operators and hooks log through structlog in Airflow 3, which caplog does not see.
    """
    from structlog.testing import capture_logs

    def render(entry):
        message, arguments = str(entry.get("event", "")), entry.get("positional_args")
        return message % tuple(arguments) if arguments else message

    with capture_logs() as entries:
        yield lambda: "\n".join([caplog.text, *(render(entry) for entry in entries)])


@pytest.fixture(params=[False, True], ids=["sync", "deferred"])
def deferrable(request):
    return request.param


def build_operator(**overrides):
    from saas_metrics.operators.airbyte import AirbyteSyncOperator

    arguments = {
        "task_id": TASK_ID,
        "connection_id": CONNECTION_ID,
        "airbyte_conn_id": AIRBYTE_CONN_ID,
        "poll_interval": 0.02,
        "timeout": 30,
        "health_conn_id": None,
        "retry_delay": timedelta(0),
        **overrides,
    }
    return AirbyteSyncOperator(**arguments)


def run_sync_task(**operator_arguments):
    """Run a one-task DAG with the operator. Returns the DagRun and the task instance."""
    from airflow.sdk import DAG

    with DAG(dag_id=f"airbyte_sync_{uuid.uuid4().hex[:10]}", schedule=None, start_date=START_DATE) as dag:
        build_operator(**operator_arguments)
    dag_run = run_dag(dag)
    return dag_run, dag_run.get_task_instance(TASK_ID)


def job_without_start_time(job_id: int, status: str = "running") -> str:
    return json.dumps({"jobId": job_id, "status": status, "jobType": "sync", "connectionId": CONNECTION_ID})


# -- statuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statuses",
    [
        ["pending", "running", "succeeded"],
        ["queued", "running", "succeeded"],
        ["running", "incomplete", "running", "succeeded"],
        ["pending", "queued", "incomplete", "succeeded"],
    ],
    ids=lambda statuses: "-".join(statuses),
)
def test_sync_in_progress_statuses_then_success(airflow_db, fake_airbyte, deferrable, statuses):
    fake_airbyte.script_next_job(statuses, rows_synced=812, bytes_synced=90_210)

    dag_run, ti = run_sync_task(deferrable=deferrable)

    job = fake_airbyte.jobs_of(CONNECTION_ID)[0]
    xcoms = task_xcoms(dag_run, TASK_ID)
    assert ti.state == "success"
    assert xcoms["return_value"] == job.job_id
    assert xcoms["job_id"] == job.job_id
    assert xcoms["job_status"] == "succeeded"
    assert xcoms["rows_synced"] == 812
    assert xcoms["bytes_synced"] == 90_210


@pytest.mark.parametrize(("status", "expected_tries"), [("failed", 2), ("cancelled", 1)])
def test_sync_terminal_failure_statuses(airflow_db, fake_airbyte, deferrable, status, expected_tries):
    fake_airbyte.script_next_job(["pending", "running", status])
    fake_airbyte.script_next_job(["pending", "running", status])

    dag_run, ti = run_sync_task(deferrable=deferrable, retries=1)

    assert ti.state == "failed"
    assert ti.try_number == expected_tries
    assert task_xcoms(dag_run, TASK_ID)["job_status"] == status


def test_sync_unknown_status_fails_closed(airflow_db, fake_airbyte, deferrable):
    fake_airbyte.script_next_job(["pending", "running", "paused_by_admin"])

    _, ti = run_sync_task(deferrable=deferrable, retries=1)

    assert ti.state == "failed"
    assert ti.try_number == 1
    assert fake_airbyte.jobs_of(CONNECTION_ID)[0].cancelled is True


def test_sync_missing_fields_fails_closed(airflow_db, fake_airbyte, deferrable):
    fake_airbyte.add_fault("GET", JOB_PATH, status=200, body=job_without_start_time(4100), times=None)

    _, ti = run_sync_task(deferrable=deferrable, retries=1)

    assert ti.state == "failed"
    assert ti.try_number == 1
    assert len(fake_airbyte.requests_to("DELETE", JOB_PATH)) == 1


# -- attaching instead of starting a second sync -----------------------------------------------


@pytest.mark.parametrize("status", ["pending", "queued", "running"])
def test_sync_attaches_to_job_in_progress(airflow_db, fake_airbyte, deferrable, status):
    existing = fake_airbyte.add_job(CONNECTION_ID, [status, "running", "succeeded"])

    dag_run, ti = run_sync_task(deferrable=deferrable)

    assert ti.state == "success"
    assert task_xcoms(dag_run, TASK_ID)["job_id"] == existing
    assert fake_airbyte.requests_to("POST", "/jobs") == []


def test_sync_attaches_after_409(airflow_db, fake_airbyte, deferrable, logged_text):
    existing = fake_airbyte.add_job(CONNECTION_ID, ["running", "running", "succeeded"])
    # The first listing misses the running job, as a lagging read replica might.
    fake_airbyte.add_fault("GET", "/jobs", status=200, body='{"data": [], "next": null}')

    dag_run, ti = run_sync_task(deferrable=deferrable)

    assert ti.state == "success"
    assert task_xcoms(dag_run, TASK_ID)["job_id"] == existing
    assert len(fake_airbyte.requests_to("POST", "/jobs", status=409)) == 1
    assert len(fake_airbyte.jobs_of(CONNECTION_ID)) == 1
    assert f"A sync is already running for: {CONNECTION_ID}" in logged_text()


def test_sync_create_timeout_no_duplicate(airflow_db, fake_airbyte, deferrable, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRBYTE_FAKE", fake_airbyte.connection_json(extra={"create_job_timeout": 0.3})
    )
    fake_airbyte.script_next_job(["pending", "running", "succeeded"])
    fake_airbyte.add_fault("POST", "/jobs", status=None, delay=1.0)

    dag_run, ti = run_sync_task(deferrable=deferrable)

    jobs = fake_airbyte.jobs_of(CONNECTION_ID)
    assert ti.state == "success"
    assert len(jobs) == 1
    assert len(fake_airbyte.requests_to("POST", "/jobs")) == 1
    assert task_xcoms(dag_run, TASK_ID)["job_id"] == jobs[0].job_id


def test_sync_retry_attaches_to_surviving_job(airflow_db, fake_airbyte, deferrable):
    # The first try loses the server while the job keeps running, and the retry must attach to it.
    fake_airbyte.script_next_job(["pending", "running", "running", "running", "succeeded"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=503, times=4)

    _, ti = run_sync_task(deferrable=deferrable, retries=1)

    assert ti.state == "success"
    assert ti.try_number == 2
    assert len(fake_airbyte.jobs_of(CONNECTION_ID)) == 1


# -- authentication and HTTP errors ------------------------------------------------------------


def test_sync_survives_token_expiry_mid_polling(airflow_db, fake_airbyte, deferrable):
    fake_airbyte.script_next_job(["pending", "running", "running", "running", "succeeded"])
    fake_airbyte.expire_tokens_after_gets(2)

    _, ti = run_sync_task(deferrable=deferrable)

    assert ti.state == "success"
    assert len(fake_airbyte.requests_to("GET", JOB_PATH, status=401)) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_sync_rejected_token_fails_fast(airflow_db, fake_airbyte, deferrable, status):
    fake_airbyte.add_fault("GET", JOB_PATH, status=status, times=None)

    _, ti = run_sync_task(deferrable=deferrable, retries=1)

    assert ti.state == "failed"
    assert ti.try_number == 1
    assert len(fake_airbyte.requests_to("GET", JOB_PATH)) == 2


def test_sync_job_not_found_fails_fast(airflow_db, fake_airbyte, deferrable):
    fake_airbyte.add_fault("GET", JOB_PATH, status=404, times=None)

    _, ti = run_sync_task(deferrable=deferrable, retries=1)

    assert ti.state == "failed"
    assert ti.try_number == 1
    assert len(fake_airbyte.requests_to("GET", JOB_PATH)) == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_sync_rides_out_error_burst(airflow_db, fake_airbyte, deferrable, status):
    fake_airbyte.script_next_job(["pending", "running", "succeeded"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=status, times=3)

    _, ti = run_sync_task(deferrable=deferrable)

    assert ti.state == "success"
    assert len(fake_airbyte.requests_to("GET", JOB_PATH, status=status)) == 3


def test_sync_html_wrong_base_path_fails(airflow_db, deferrable, monkeypatch):
    with FakeAirbyteServer(require_auth=False) as fake:
        monkeypatch.setenv(
            "AIRFLOW_CONN_AIRBYTE_FAKE",
            fake.connection_json(with_credentials=False, host=f"{fake.origin}/api/v1"),
        )

        _, ti = run_sync_task(deferrable=deferrable, retries=1)

        assert ti.state == "failed"
        assert ti.try_number == 1
        assert len(fake.requests) == 1


def test_sync_unreachable_server_is_retried(airflow_db, deferrable, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRBYTE_FAKE",
        json.dumps(
            {
                "conn_type": "airbyte",
                "host": f"http://127.0.0.1:{port}/api/public/v1",
                "extra": {"max_retries": 1, "retry_wait_seconds": 0.01},
            }
        ),
    )

    _, ti = run_sync_task(deferrable=deferrable, retries=1)

    assert ti.state == "failed"
    assert ti.try_number == 2


# -- timeouts and cancellation -----------------------------------------------------------------


@pytest.mark.parametrize("stuck_status", ["running", "queued"])
def test_sync_stuck_past_timeout_is_cancelled(airflow_db, fake_airbyte, deferrable, stuck_status):
    fake_airbyte.script_next_job(["pending", stuck_status])

    _, ti = run_sync_task(deferrable=deferrable, timeout=0.5)

    job = fake_airbyte.jobs_of(CONNECTION_ID)[0]
    assert ti.state == "failed"
    assert job.cancelled is True
    assert len(fake_airbyte.requests_to("DELETE", JOB_PATH)) == 1


def test_sync_execution_timeout_cancels_job(airflow_db, warehouse_db, fake_airbyte, deferrable):
    fake_airbyte.script_next_job(["pending", "running"])

    _, ti = run_sync_task(
        deferrable=deferrable, timeout=60, execution_timeout=timedelta(seconds=1), health_conn_id="warehouse"
    )

    job = fake_airbyte.jobs_of(CONNECTION_ID)[0]
    assert ti.state == "failed"
    assert job.cancelled is True
    assert len(fake_airbyte.requests_to("DELETE", JOB_PATH)) == 1
    assert "execution_timeout" in health_rows(warehouse_db)[0][7]


def test_sync_failed_cancel_keeps_timeout_error(
    airflow_db, warehouse_db, fake_airbyte, deferrable, logged_text
):
    fake_airbyte.script_next_job(["pending", "running"])
    fake_airbyte.add_fault("DELETE", JOB_PATH, status=500, times=None)

    _, ti = run_sync_task(deferrable=deferrable, timeout=0.5, health_conn_id="warehouse")

    recorded_error = health_rows(warehouse_db)[0][7]
    assert ti.state == "failed"
    assert "Could not cancel Airbyte job" in logged_text()
    assert "was still running when the operator's timeout" in recorded_error
    assert "could not be cancelled" in recorded_error


# -- zero rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "state", "warned", "recorded"),
    [("ignore", "success", False, False), ("warn", "success", True, False), ("fail", "failed", False, True)],
)
def test_sync_zero_rows_policy(
    airflow_db, warehouse_db, fake_airbyte, deferrable, logged_text, policy, state, warned, recorded
):
    fake_airbyte.script_next_job(["pending", "succeeded"], rows_synced=0, bytes_synced=0)

    _, ti = run_sync_task(deferrable=deferrable, on_zero_rows=policy, health_conn_id="warehouse")

    recorded_error = health_rows(warehouse_db)[0][7] or ""
    assert ti.state == state
    assert ("synced 0 rows" in logged_text()) is warned
    assert ("synced 0 rows" in recorded_error) is recorded


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"connection_id": "stripe"},
        {"connection_id": "00000000-0000-0000-0000-000000000001"},
        {"poll_interval": 0},
        {"timeout": -1},
        {"on_zero_rows": "shrug"},
    ],
    ids=["not-a-uuid", "placeholder", "zero-poll-interval", "negative-timeout", "unknown-zero-rows-policy"],
)
def test_sync_invalid_arguments_fail_fast(airflow_db, fake_airbyte, arguments):
    _, ti = run_sync_task(deferrable=False, retries=1, **arguments)

    assert ti.state == "failed"
    assert ti.try_number == 1
    assert fake_airbyte.requests == []


# -- ingestion_health --------------------------------------------------------------------------


def health_rows(warehouse_db):
    return warehouse_db.query(
        "select source, connection_id, job_id, status, rows_synced, bytes_synced, attempt, error, "
        "started_at is not null, ended_at >= started_at, recorded_at is not null "
        "from analytics.ingestion_health order by ingestion_health_id"
    )


def test_health_records_success(airflow_db, warehouse_db, fake_airbyte, deferrable):
    fake_airbyte.script_next_job(["pending", "running", "succeeded"], rows_synced=812, bytes_synced=90_210)

    dag_run, _ = run_sync_task(deferrable=deferrable, health_conn_id="warehouse", source_name="stripe")

    job_id = task_xcoms(dag_run, TASK_ID)["job_id"]
    assert health_rows(warehouse_db) == [
        ("stripe", CONNECTION_ID, job_id, "succeeded", 812, 90_210, 1, None, True, True, True)
    ]


def test_health_records_each_attempt(airflow_db, warehouse_db, fake_airbyte, deferrable):
    fake_airbyte.script_next_job(["pending", "failed"])
    fake_airbyte.script_next_job(["pending", "succeeded"])

    run_sync_task(deferrable=deferrable, retries=1, health_conn_id="warehouse")

    rows = health_rows(warehouse_db)
    assert [(row[3], row[6]) for row in rows] == [("failed", 1), ("succeeded", 2)]
    assert "failed. Open the job in the Airbyte UI" in rows[0][7]
    assert rows[1][7] is None


def test_health_records_sync_never_started(airflow_db, warehouse_db, fake_airbyte):
    fake_airbyte.add_fault("POST", "/jobs", status=400, body='{"detail": "connection is inactive"}')

    run_sync_task(deferrable=False, health_conn_id="warehouse")

    rows = health_rows(warehouse_db)
    assert [(row[2], row[3]) for row in rows] == [(None, "not_started")]
    assert "HTTP 400" in rows[0][7]


def test_health_recording_failure_keeps_sync_green(airflow_db, fake_airbyte, logged_text):
    fake_airbyte.script_next_job(["pending", "succeeded"])

    _, ti = run_sync_task(deferrable=False, health_conn_id="no_such_warehouse")

    assert ti.state == "success"
    assert "Could not record the sync attempt" in logged_text()


# -- on_kill and execute_complete, called directly ---------------------------------------------


def fake_context():
    pushed = {}
    ti = SimpleNamespace(
        dag_id="direct",
        run_id="manual__direct",
        task_id=TASK_ID,
        try_number=1,
        start_date=None,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    return {"ti": ti}, pushed


def test_on_kill_cancels_running_job(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    operator = build_operator()
    operator.job_id, operator.job_status = job_id, "running"

    operator.on_kill()

    assert fake_airbyte.jobs[job_id].cancelled is True


def test_on_kill_during_create_cancels(fake_airbyte):
    from datetime import datetime

    job_id = fake_airbyte.add_job(CONNECTION_ID, ["pending"], started_ago=timedelta(seconds=1))
    operator = build_operator()
    operator._create_requested_at = datetime.now(UTC)

    operator.on_kill()

    assert fake_airbyte.jobs[job_id].cancelled is True


def test_on_kill_without_job_sends_nothing(fake_airbyte):
    operator = build_operator()

    operator.on_kill()

    assert fake_airbyte.requests == []


def test_on_kill_cancel_failure_is_swallowed(fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.add_fault("DELETE", JOB_PATH, status=500, times=None)
    operator = build_operator()
    operator.job_id, operator.job_status = job_id, "running"

    operator.on_kill()

    assert fake_airbyte.jobs[job_id].cancelled is False


@pytest.mark.parametrize(
    "event",
    [
        None,
        {"status": "finished"},
        {"status": "success", "job_id": 4100},
        {
            "status": "success",
            "job_id": 4100,
            "job": {"job_id": 4100, "connection_id": CONNECTION_ID, "status": "running"},
        },
    ],
    ids=["no-event", "unknown-event-status", "success-without-job", "success-with-running-job"],
)
def test_execute_complete_fails_closed(fake_airbyte, event):
    from airflow.sdk.exceptions import AirflowFailException

    operator = build_operator()
    context, _ = fake_context()

    with pytest.raises(AirflowFailException):
        operator.execute_complete(context, event)


def test_execute_complete_pushes_job_details(fake_airbyte):
    operator = build_operator()
    context, pushed = fake_context()
    job = {
        "job_id": 4100,
        "connection_id": CONNECTION_ID,
        "status": "succeeded",
        "rows_synced": 3,
        "bytes_synced": 9,
    }

    result = operator.execute_complete(context, {"status": "success", "job_id": 4100, "job": job})

    assert result == 4100
    assert pushed == {"job_id": 4100, "job_status": "succeeded", "rows_synced": 3, "bytes_synced": 9}
