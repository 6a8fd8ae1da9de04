"""AirbyteHook against the fake Airbyte server: settings, tokens, retries and starting syncs."""

from __future__ import annotations

import json
import socket
import time

import pytest

from saas_metrics.hooks.airbyte import (
    AirbyteAuthError,
    AirbyteConfigurationError,
    AirbyteError,
    AirbyteHook,
    AirbyteInvalidResponseError,
    AirbyteNotFoundError,
    AirbytePermanentError,
    AirbyteTransientError,
    redact_url,
    resolve_token_url,
)
from tests.fakes.airbyte_server import FakeAirbyteServer

CONNECTION_ID = "0b7e3c52-5d0e-4c8e-b1a4-7c3f2e9d8a10"
CONN_ID = "airbyte_hook_test"
JOB_PATH = r"/jobs/\d+"
JOB_WITHOUT_START_TIME = json.dumps(
    {"jobId": 4100, "status": "running", "jobType": "sync", "connectionId": CONNECTION_ID}
)


@pytest.fixture
def fake_airbyte():
    with FakeAirbyteServer() as fake:
        yield fake


@pytest.fixture
def use_connection(monkeypatch):
    """Return a function that installs a connection JSON as AIRFLOW_CONN_AIRBYTE_HOOK_TEST."""

    def install(connection_json: str) -> AirbyteHook:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json)
        return AirbyteHook(airbyte_conn_id=CONN_ID)

    return install


@pytest.fixture
def hook(fake_airbyte, use_connection):
    return use_connection(fake_airbyte.connection_json())


def closed_port() -> int:
    """Return a local port with no listener, so connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- token URL and connection settings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("server_url", "schema", "expected"),
    [
        ("https://api.airbyte.com/v1", None, "https://api.airbyte.com/v1/applications/token"),
        ("https://api.airbyte.com/v1/", "", "https://api.airbyte.com/v1/applications/token"),
        (
            "https://api.airbyte.com/v1",
            "v1/applications/token",
            "https://api.airbyte.com/v1/applications/token",
        ),
        ("http://h:8000/api/public/v1", None, "http://h:8000/api/public/v1/applications/token"),
        (
            "http://h:8000/api/public/v1",
            "v1/applications/token",
            "http://h:8000/api/public/v1/applications/token",
        ),
        (
            "http://h:8000/api/public/v1",
            "/api/public/v1/applications/token",
            "http://h:8000/api/public/v1/applications/token",
        ),
        ("http://h:8000/api/public/v1", "/applications/token", "http://h:8000/applications/token"),
        ("http://h:8000/api/public/v1", "https://auth.example/token", "https://auth.example/token"),
    ],
)
def test_token_url_resolution(server_url, schema, expected):
    assert resolve_token_url(server_url, schema) == expected


@pytest.mark.parametrize(
    "schema",
    [None, "v1/applications/token", "/api/public/v1/applications/token"],
    ids=["empty", "provider-default", "absolute-path"],
)
def test_token_url_reaches_self_managed_endpoint(fake_airbyte, use_connection, schema):
    hook = use_connection(fake_airbyte.connection_json(schema=schema))

    hook.list_recent_sync_jobs(CONNECTION_ID)

    assert fake_airbyte.tokens_issued == 1


@pytest.mark.parametrize(
    ("root_answer", "message"),
    [
        ("web-app", r"returned HTTP 200 with content type text/html"),
        ("not-found", r"No Airbyte token endpoint at http://127.0.0.1:\d+/applications/token \(HTTP 404\)"),
    ],
)
def test_token_url_sdk_default_explained(fake_airbyte, use_connection, root_answer, message):
    # The SDK's default token URL resolves to the server root, where a self-managed server's
    # web app returns HTML and Airbyte Cloud returns 404.
    if root_answer == "not-found":
        fake_airbyte.add_fault("POST", "/applications/token", status=404, body="{}")
    hook = use_connection(fake_airbyte.connection_json(schema="/applications/token"))

    with pytest.raises(AirbyteConfigurationError, match=message):
        hook.list_recent_sync_jobs(CONNECTION_ID)


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ({"conn_type": "airbyte"}, "has no host"),
        ({"conn_type": "airbyte", "host": "api.airbyte.com"}, "not an http"),
        (
            {"conn_type": "airbyte", "host": "https://api.airbyte.com/v1", "login": "id"},
            "password .client secret. is missing",
        ),
        (
            {"conn_type": "airbyte", "host": "https://api.airbyte.com/v1", "extra": {"timeout": "soon"}},
            "Extra timeout",
        ),
        (
            {
                "conn_type": "airbyte",
                "host": "https://api.airbyte.com/v1",
                "extra": {"token_request_format": "xml"},
            },
            "token_request_format",
        ),
    ],
    ids=["no-host", "no-scheme", "half-credentials", "bad-timeout", "bad-token-format"],
)
def test_settings_reject_invalid_connection(use_connection, connection, message):
    hook = use_connection(json.dumps(connection))

    with pytest.raises(AirbyteConfigurationError, match=message):
        _ = hook.settings


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:pw@proxy.example:8443/v1/applications/token",
            "https://***@proxy.example:8443/v1/applications/token",
        ),
        ("https://api.airbyte.com/v1", "https://api.airbyte.com/v1"),
    ],
)
def test_redact_url_hides_userinfo(url, shown):
    assert redact_url(url) == shown


def test_settings_repr_hides_secrets(hook, fake_airbyte):
    assert fake_airbyte.client_secret not in repr(hook.settings)


# -- authentication ----------------------------------------------------------------------------


def test_no_credentials_sends_no_authorization(use_connection):
    with FakeAirbyteServer(require_auth=False) as fake:
        hook = use_connection(fake.connection_json(with_credentials=False))

        hook.list_recent_sync_jobs(CONNECTION_ID)

        request = fake.requests_to("GET", "/jobs")[0]
        assert "authorization" not in request.headers
        assert fake.tokens_issued == 0


def test_token_sent_as_bearer_header(hook, fake_airbyte):
    hook.list_recent_sync_jobs(CONNECTION_ID)

    request = fake_airbyte.requests_to("GET", "/jobs")[0]
    assert request.headers["authorization"].startswith("Bearer token-")


@pytest.mark.parametrize("request_format", ["json", "form"])
def test_token_request_formats(use_connection, request_format):
    with FakeAirbyteServer(token_formats=(request_format,)) as fake:
        hook = use_connection(fake.connection_json(extra={"token_request_format": request_format}))

        hook.list_recent_sync_jobs(CONNECTION_ID)

        assert fake.tokens_issued == 1


def test_token_format_rejected_names_the_fix(use_connection):
    with FakeAirbyteServer(token_formats=("json",)) as fake:
        hook = use_connection(fake.connection_json(extra={"token_request_format": "form"}))

        with pytest.raises(AirbyteAuthError, match="token_request_format"):
            hook.list_recent_sync_jobs(CONNECTION_ID)


def test_token_without_type_accepted(use_connection):
    with FakeAirbyteServer(token_type=None, token_lifetime=None) as fake:
        hook = use_connection(fake.connection_json())

        hook.list_recent_sync_jobs(CONNECTION_ID)

        assert fake.tokens_issued == 1


def test_token_of_other_type_is_rejected(use_connection):
    with FakeAirbyteServer(token_type="mac") as fake:
        hook = use_connection(fake.connection_json())

        with pytest.raises(AirbyteConfigurationError, match="type 'mac'"):
            hook.list_recent_sync_jobs(CONNECTION_ID)


def test_wrong_client_secret_fails_without_retry(fake_airbyte, use_connection):
    hook = use_connection(fake_airbyte.connection_json(password="not-the-secret"))

    with pytest.raises(AirbyteAuthError, match="rejected the client credentials"):
        hook.list_recent_sync_jobs(CONNECTION_ID)
    assert len(fake_airbyte.requests_to("POST", "/applications/token")) == 1


def test_token_expiry_mid_polling_refreshes(hook, fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.expire_tokens_after_gets(1)

    hook.get_job(job_id)
    job = hook.get_job(job_id)

    assert job.status == "running"
    assert len(fake_airbyte.requests_to("GET", JOB_PATH, status=401)) == 1
    assert fake_airbyte.tokens_issued == 2


def test_short_token_refreshed_early(use_connection):
    with FakeAirbyteServer(token_lifetime=1) as fake:
        hook = use_connection(fake.connection_json())
        job_id = fake.add_job(CONNECTION_ID, ["running"])

        hook.get_job(job_id)
        time.sleep(0.8)
        hook.get_job(job_id)

        assert fake.tokens_issued == 2
        assert fake.requests_to("GET", JOB_PATH, status=401) == []


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token_refreshed_once_then_fails(hook, fake_airbyte, status):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=status, times=None)

    with pytest.raises(AirbyteAuthError, match=f"HTTP {status}"):
        hook.get_job(job_id)
    assert len(fake_airbyte.requests_to("GET", JOB_PATH)) == 2
    assert fake_airbyte.tokens_issued == 2


# -- errors and retries ------------------------------------------------------------------------


def test_job_not_found_fails_without_retry(hook, fake_airbyte):
    with pytest.raises(AirbyteNotFoundError, match="Reading job 999"):
        hook.get_job(999)
    assert len(fake_airbyte.requests_to("GET", JOB_PATH)) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_status_burst_recovers(hook, fake_airbyte, status):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=status, times=3)

    job = hook.get_job(job_id)

    assert job.job_id == job_id
    assert len(fake_airbyte.requests_to("GET", JOB_PATH)) == 4


def test_retryable_status_retries_exhausted(hook, fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=503, times=None)

    with pytest.raises(AirbyteTransientError, match="HTTP 503"):
        hook.get_job(job_id)
    assert len(fake_airbyte.requests_to("GET", JOB_PATH)) == 4


def test_retry_after_header_is_honoured(fake_airbyte, use_connection):
    hook = use_connection(fake_airbyte.connection_json(extra={"retry_max_wait_seconds": 1.0}))
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    hook.get_job(job_id)  # fetch the token first, so only the retry wait is timed
    fake_airbyte.add_fault("GET", JOB_PATH, status=429, headers={"Retry-After": "0.3"})
    started = time.monotonic()

    hook.get_job(job_id)

    assert time.monotonic() - started >= 0.3


def test_connection_refused_is_transient(use_connection):
    hook = use_connection(
        json.dumps(
            {
                "conn_type": "airbyte",
                "host": f"http://127.0.0.1:{closed_port()}/api/public/v1",
                "extra": {"max_retries": 1, "retry_wait_seconds": 0.01},
            }
        )
    )

    with pytest.raises(AirbyteTransientError, match="ConnectError"):
        hook.get_job(1)


def test_read_timeout_is_transient(fake_airbyte, use_connection):
    hook = use_connection(fake_airbyte.connection_json(extra={"timeout": 0.2, "max_retries": 0}))
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.add_fault("GET", JOB_PATH, status=None, delay=1.0)

    with pytest.raises(AirbyteTransientError, match="timed out"):
        hook.get_job(job_id)


@pytest.mark.parametrize("with_credentials", [False, True], ids=["no-auth", "client-credentials"])
def test_html_wrong_base_path_fails_fast(use_connection, with_credentials):
    with FakeAirbyteServer(require_auth=with_credentials) as fake:
        hook = use_connection(
            fake.connection_json(with_credentials=with_credentials, host=f"{fake.origin}/api/v1")
        )
        expected = AirbyteConfigurationError if with_credentials else AirbyteInvalidResponseError

        with pytest.raises(expected, match="instead of"):
            hook.list_recent_sync_jobs(CONNECTION_ID)
        assert len(fake.requests) == 1


def test_unknown_status_names_the_value(hook, fake_airbyte):
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running", "running", "paused_by_admin"])
    hook.get_job(job_id)

    with pytest.raises(AirbyteInvalidResponseError, match="status 'paused_by_admin'"):
        hook.get_job(job_id)


def test_missing_start_time_names_the_field(hook, fake_airbyte):
    fake_airbyte.add_fault("GET", JOB_PATH, status=200, body=JOB_WITHOUT_START_TIME)

    with pytest.raises(AirbyteInvalidResponseError, match="missing startTime"):
        hook.get_job(4100)


def test_proxy_extra_routes_requests(fake_airbyte, use_connection):
    # The fake server also serves proxy-style requests, whose path is the absolute target URL.
    # The .invalid top-level domain never resolves, so only the proxy can respond.
    hook = use_connection(
        fake_airbyte.connection_json(
            host="http://airbyte.invalid/api/public/v1",
            extra={"proxies": {"http": fake_airbyte.origin}},
            schema=f"http://airbyte.invalid{fake_airbyte.token_path}",
        )
    )

    hook.list_recent_sync_jobs(CONNECTION_ID)

    assert len(fake_airbyte.requests_to("GET", "/jobs")) == 1


def test_secrets_never_logged(hook, fake_airbyte, capfd, caplog):
    caplog.set_level("DEBUG")
    job_id = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    fake_airbyte.expire_tokens_after_gets(1)
    fake_airbyte.add_fault("GET", JOB_PATH, status=503, times=1)

    hook.get_job(job_id)
    hook.get_job(job_id)
    tokens = [
        r.headers["authorization"].split()[-1] for r in fake_airbyte.requests if "authorization" in r.headers
    ]

    output = capfd.readouterr()
    logged = output.out + output.err + caplog.text
    assert "Fetched an Airbyte access token" in logged
    assert fake_airbyte.client_secret not in logged
    assert not [token for token in tokens if token in logged]


# -- starting a sync ---------------------------------------------------------------------------


def test_start_sync_creates_job(hook, fake_airbyte):
    job, attached = hook.start_sync(CONNECTION_ID)

    assert attached is False
    assert [j.job_id for j in fake_airbyte.jobs_of(CONNECTION_ID)] == [job.job_id]


@pytest.mark.parametrize("status", ["pending", "queued", "running", "incomplete"])
def test_start_sync_attaches_in_progress(hook, fake_airbyte, status):
    existing = fake_airbyte.add_job(CONNECTION_ID, [status])

    job, attached = hook.start_sync(CONNECTION_ID)

    assert job.job_id == existing
    assert attached is True
    assert fake_airbyte.requests_to("POST", "/jobs") == []


def test_start_sync_ignores_finished_jobs(hook, fake_airbyte):
    fake_airbyte.add_job(CONNECTION_ID, ["succeeded"])

    job, attached = hook.start_sync(CONNECTION_ID)

    assert attached is False
    assert len(fake_airbyte.jobs_of(CONNECTION_ID)) == 2


def test_start_sync_attaches_after_409(hook, fake_airbyte):
    existing = fake_airbyte.add_job(CONNECTION_ID, ["running"])
    # The first listing misses the running job, as a lagging read replica might.
    fake_airbyte.add_fault("GET", "/jobs", status=200, body='{"data": [], "next": null}')

    job, attached = hook.start_sync(CONNECTION_ID)

    assert job.job_id == existing
    assert len(fake_airbyte.requests_to("POST", "/jobs", status=409)) == 1
    assert len(fake_airbyte.jobs_of(CONNECTION_ID)) == 1


def test_start_sync_409_without_job_fails(hook, fake_airbyte):
    fake_airbyte.add_fault(
        "POST", "/jobs", status=409, body='{"detail": "A sync is already running for: x"}', times=None
    )

    with pytest.raises(AirbyteError, match="A sync is already running") as raised:
        hook.start_sync(CONNECTION_ID)
    assert not isinstance(raised.value, AirbyteConfigurationError)
    assert len(fake_airbyte.requests_to("POST", "/jobs")) == 4


def test_start_sync_timeout_no_duplicate(fake_airbyte, use_connection):
    hook = use_connection(
        fake_airbyte.connection_json(extra={"create_job_timeout": 0.3, "retry_wait_seconds": 0.01})
    )
    fake_airbyte.script_next_job(["succeeded"])
    fake_airbyte.add_fault("POST", "/jobs", status=None, delay=1.0)

    job, attached = hook.start_sync(CONNECTION_ID)

    assert attached is True
    assert [j.job_id for j in fake_airbyte.jobs_of(CONNECTION_ID)] == [job.job_id]
    assert len(fake_airbyte.requests_to("POST", "/jobs")) == 1


def test_start_sync_5xx_no_duplicate(hook, fake_airbyte):
    fake_airbyte.add_fault("POST", "/jobs", status=502, process_first=True)

    job, _ = hook.start_sync(CONNECTION_ID)

    assert [j.job_id for j in fake_airbyte.jobs_of(CONNECTION_ID)] == [job.job_id]


def test_start_sync_5xx_posts_again(hook, fake_airbyte):
    fake_airbyte.add_fault("POST", "/jobs", status=503)

    job, attached = hook.start_sync(CONNECTION_ID)

    assert attached is False
    assert len(fake_airbyte.requests_to("POST", "/jobs")) == 2
    assert len(fake_airbyte.jobs_of(CONNECTION_ID)) == 1


def test_start_sync_400_not_retried(hook, fake_airbyte):
    fake_airbyte.add_fault("POST", "/jobs", status=400, body='{"detail": "connection is inactive"}')

    with pytest.raises(AirbytePermanentError, match="HTTP 400"):
        hook.start_sync(CONNECTION_ID)
    assert len(fake_airbyte.requests_to("POST", "/jobs")) == 1


def test_connection_check_succeeds(hook, fake_airbyte):
    ok, message = hook.test_connection()

    assert ok is True
    assert fake_airbyte.url in message


def test_connection_check_reports_bad_secret(fake_airbyte, use_connection):
    hook = use_connection(fake_airbyte.connection_json(password="not-the-secret"))

    ok, message = hook.test_connection()

    assert ok is False
    assert "rejected the client credentials" in message
