"""A scriptable fake of Airbyte's public API, served over HTTP on 127.0.0.1 for tests.

It implements what the airbyte-api 1.0.1 SDK calls for jobs, on the same paths and with the same
JSON shapes as Airbyte:

- `POST <base>/applications/token` (JSON or form body) returns a bearer token;
- `POST <base>/jobs` creates a job, or returns 409 while a job of the connection is in progress;
- `GET <base>/jobs/{id}` returns the job and moves it one step along its status script;
- `GET <base>/jobs?connectionId=...` lists jobs, newest first with `orderBy=createdAt|DESC`;
- `DELETE <base>/jobs/{id}` cancels a job that has not finished, and returns 404 for a finished one.

A test scripts each job's statuses (the last one repeats), and injects faults: any response for
the next N matching requests, optionally after a delay, and optionally after the request was
processed (a create that creates the job and then responds too late). Every request is recorded.
Paths outside the base path return 200 with an HTML page, as Airbyte's web app does.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

IN_PROGRESS = ("pending", "queued", "running", "incomplete")
FINISHED = ("succeeded", "failed", "cancelled")
HTML_PAGE = "<!doctype html><html><head><title>Airbyte</title></head><body><div id=root></div></body></html>"


@dataclass
class FakeJob:
    job_id: int
    connection_id: str
    statuses: list[str]
    created_at: datetime
    rows_synced: int | None = 1250
    bytes_synced: int | None = 48_000
    omit_fields: tuple[str, ...] = ()
    position: int = 0
    cancelled: bool = False

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        return self.statuses[min(self.position, len(self.statuses) - 1)]

    def advance(self) -> None:
        self.position += 1

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "jobId": self.job_id,
            "status": self.status,
            "jobType": "sync",
            "startTime": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "connectionId": self.connection_id,
            "lastUpdatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration": "PT1M",
        }
        if self.rows_synced is not None:
            body["rowsSynced"] = self.rows_synced
        if self.bytes_synced is not None:
            body["bytesSynced"] = self.bytes_synced
        for key in self.omit_fields:
            body.pop(key, None)
        return body


@dataclass
class Fault:
    """A canned response for the next `times` requests that match `method` and `path`.

    With `status=None` the request gets its normal response, only later (after `delay` seconds).
    """

    method: str
    path: str  # regular expression, matched in full against the path below the base path
    status: int | None = 503
    body: str = '{"message": "fake outage"}'
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    process_first: bool = False  # handle the request normally, then delay and send the fault
    times: int | None = 1  # None repeats forever

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # the response's status code, set once the response is chosen


@dataclass
class JobScript:
    statuses: list[str]
    rows_synced: int | None = 1250
    bytes_synced: int | None = 48_000
    omit_fields: tuple[str, ...] = ()


class FakeAirbyteServer:
    """The fake server and its state. Use as a context manager, or call `start` and `stop`."""

    def __init__(
        self,
        *,
        base_path: str = "/api/public/v1",
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        require_auth: bool = True,
        token_lifetime: int | None = 180,
        token_type: str | None = "Bearer",
        token_formats: tuple[str, ...] = ("json", "form"),
    ):
        self.base_path = base_path.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.require_auth = require_auth
        self.token_lifetime = token_lifetime
        self.token_type = token_type
        self.token_formats = token_formats
        self.token_path = f"{self.base_path}/applications/token"

        self.jobs: dict[int, FakeJob] = {}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.valid_tokens: set[str] = set()
        self.tokens_issued = 0
        self.default_script = JobScript(statuses=["pending", "running", "succeeded"])
        self._scripts: list[JobScript] = []
        self._job_ids = itertools.count(4100)
        self._lock = threading.RLock()
        self._expire_tokens_after_gets: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeAirbyteServer:
        handler = type("BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-airbyte",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None

    def __enter__(self) -> FakeAirbyteServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._server is not None, "the fake server is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The API base URL, the value for the Airflow connection's host."""
        return f"{self.origin}{self.base_path}"

    def connection_json(self, *, with_credentials: bool = True, **overrides: Any) -> str:
        """Return an Airflow connection in JSON form (for AIRFLOW_CONN_<ID>) that points here."""
        extra = {"timeout": 5, "max_retries": 3, "retry_wait_seconds": 0.01, "retry_max_wait_seconds": 0.05}
        extra.update(overrides.pop("extra", {}))
        conn: dict[str, Any] = {"conn_type": "airbyte", "host": self.url, "extra": extra}
        if with_credentials:
            conn["login"] = self.client_id
            conn["password"] = self.client_secret
        conn.update(overrides)
        return json.dumps(conn)

    # -- scripting -----------------------------------------------------------------------------

    def script_next_job(
        self,
        statuses: list[str],
        *,
        rows_synced: int | None = 1250,
        bytes_synced: int | None = 48_000,
        omit_fields: tuple[str, ...] = (),
    ) -> None:
        """Queue the status script of the next job that `POST /jobs` creates."""
        with self._lock:
            self._scripts.append(JobScript(statuses, rows_synced, bytes_synced, omit_fields))

    def add_job(
        self,
        connection_id: str,
        statuses: list[str],
        *,
        started_ago: timedelta = timedelta(minutes=5),
        rows_synced: int | None = 1250,
        bytes_synced: int | None = 48_000,
    ) -> int:
        """Add a job that exists before the test starts (e.g. a sync already running)."""
        with self._lock:
            job = FakeJob(
                job_id=next(self._job_ids),
                connection_id=connection_id,
                statuses=list(statuses),
                created_at=datetime.now(UTC) - started_ago,
                rows_synced=rows_synced,
                bytes_synced=bytes_synced,
            )
            self.jobs[job.job_id] = job
            return job.job_id

    def add_fault(self, method: str, path: str, **kwargs: Any) -> Fault:
        """Return a canned response to the next matching request(s), as described in `Fault`."""
        fault = Fault(method=method, path=path, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far, as if they all expired on the server."""
        with self._lock:
            self.valid_tokens.clear()

    def expire_tokens_after_gets(self, count: int) -> None:
        """Invalidate all tokens once `count` more job reads have been served."""
        with self._lock:
            self._expire_tokens_after_gets = count

    # -- inspection ----------------------------------------------------------------------------

    def requests_to(self, method: str, path: str, *, status: int | None = None) -> list[RecordedRequest]:
        """Return the recorded requests whose path below the base path matches `path` in full."""
        pattern = re.compile(path)
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == method
                and pattern.fullmatch(self._relative(r.path))
                and (status is None or r.status == status)
            ]

    def _relative(self, path: str) -> str:
        return path[len(self.base_path) :] if path.startswith(self.base_path) else path

    def jobs_of(self, connection_id: str) -> list[FakeJob]:
        with self._lock:
            return [job for job in self.jobs.values() if job.connection_id == connection_id]

    def wait_for_request(self, method: str, path: str, *, count: int = 1, timeout: float = 10.0) -> None:
        """Block until at least `count` matching requests arrived, or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while len(self.requests_to(method, path)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fake server got no {method} {path} within {timeout} s")
            time.sleep(0.01)

    async def await_request(self, method: str, path: str, *, count: int = 1, timeout: float = 10.0) -> None:
        """Like `wait_for_request`, without blocking the event loop that runs the test."""
        import asyncio

        deadline = time.monotonic() + timeout
        while len(self.requests_to(method, path)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fake server got no {method} {path} within {timeout} s")
            await asyncio.sleep(0.01)

    # -- request handling (called from the server threads) -------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        recorded = RecordedRequest(method, parts.path, query, headers, body)
        with self._lock:
            self.requests.append(recorded)
            fault = self._take_fault(method, parts.path)
        if fault is None or fault.process_first or fault.status is None:
            response = self._route(method, parts.path, query, headers, body)
        if fault is not None and fault.status is not None:
            response = (fault.status, fault.content_type, fault.body.encode(), fault.headers)
        recorded.status = response[0]
        if fault is not None:
            time.sleep(fault.delay)
        return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        relative = self._relative(path)
        for fault in self.faults:
            if fault.matches(method, relative):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def _route(self, method: str, path: str, query: dict, headers: dict[str, str], body: bytes) -> tuple:
        if method == "POST" and path == self.token_path:
            return self._issue_token(headers, body)
        if not path.startswith(self.base_path + "/"):
            return 200, "text/html; charset=utf-8", HTML_PAGE.encode(), {}
        relative = path[len(self.base_path) :]
        if relative == "/health" and method == "GET":
            return _json(200, {"available": True})
        if self.require_auth and not self._authorized(headers):
            return _problem(401, "Unauthorized", "The access token is missing, invalid or expired.")
        with self._lock:
            if relative == "/jobs" and method == "POST":
                return self._create_job(body)
            if relative == "/jobs" and method == "GET":
                return self._list_jobs(query)
            match = re.fullmatch(r"/jobs/(\d+)", relative)
            if match and method == "GET":
                return self._get_job(int(match.group(1)))
            if match and method == "DELETE":
                return self._cancel_job(int(match.group(1)))
        return _problem(404, "Not Found", f"No route for {method} {relative}")

    def _authorized(self, headers: dict[str, str]) -> bool:
        value = headers.get("authorization", "")
        with self._lock:
            return value.startswith("Bearer ") and value[len("Bearer ") :] in self.valid_tokens

    def _issue_token(self, headers: dict[str, str], body: bytes) -> tuple:
        content_type = headers.get("content-type", "")
        if content_type.startswith("application/json"):
            request_format = "json"
            fields = json.loads(body or b"{}")
        else:
            request_format = "form"
            fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if request_format not in self.token_formats:
            return _problem(401, "Unauthorized", f"{request_format} token requests are not accepted")
        if fields.get("client_id") != self.client_id or fields.get("client_secret") != self.client_secret:
            return _problem(401, "Unauthorized", "Invalid client credentials")
        token = f"token-{uuid.uuid4().hex}"
        with self._lock:
            self.valid_tokens.add(token)
            self.tokens_issued += 1
        payload: dict[str, Any] = {"access_token": token}
        if self.token_type is not None:
            payload["token_type"] = self.token_type
        if self.token_lifetime is not None:
            payload["expires_in"] = self.token_lifetime
        return _json(200, payload)

    def _create_job(self, body: bytes) -> tuple:
        request = json.loads(body or b"{}")
        connection_id = request.get("connectionId")
        if not connection_id or request.get("jobType") != "sync":
            return _problem(400, "Bad Request", "connectionId and jobType=sync are required")
        for job in self.jobs.values():
            if job.connection_id == connection_id and job.status in IN_PROGRESS:
                return _problem(
                    409,
                    "ValueConflictKnownException",
                    f"A sync is already running for: {connection_id}",
                )
        script = self._scripts.pop(0) if self._scripts else self.default_script
        job = FakeJob(
            job_id=next(self._job_ids),
            connection_id=connection_id,
            statuses=list(script.statuses),
            created_at=datetime.now(UTC),
            rows_synced=script.rows_synced,
            bytes_synced=script.bytes_synced,
            omit_fields=script.omit_fields,
        )
        self.jobs[job.job_id] = job
        return _json(200, job.to_json())

    def _get_job(self, job_id: int) -> tuple:
        job = self.jobs.get(job_id)
        if job is None:
            return _problem(404, "Not Found", f"Job {job_id} not found")
        job.advance()
        if self._expire_tokens_after_gets is not None:
            self._expire_tokens_after_gets -= 1
            if self._expire_tokens_after_gets <= 0:
                self._expire_tokens_after_gets = None
                self.valid_tokens.clear()
        return _json(200, job.to_json())

    def _list_jobs(self, query: dict[str, list[str]]) -> tuple:
        jobs = list(self.jobs.values())
        if "connectionId" in query:
            jobs = [job for job in jobs if job.connection_id == query["connectionId"][0]]
        if "status" in query:
            jobs = [job for job in jobs if job.status == query["status"][0]]
        descending = query.get("orderBy", ["createdAt|ASC"])[0].endswith("|DESC")
        jobs.sort(key=lambda job: job.job_id, reverse=descending)
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["20"])[0])
        return _json(200, {"data": [job.to_json() for job in jobs[offset : offset + limit]], "next": None})

    def _cancel_job(self, job_id: int) -> tuple:
        job = self.jobs.get(job_id)
        if job is None or job.status in FINISHED:
            return _problem(404, "Not Found", f"Job {job_id} not found or already finished")
        job.cancelled = True
        return _json(200, job.to_json())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAirbyteServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes. Without this, Nagle's algorithm and the client's
    # delayed ACK added about 40 ms to every response (measured: 45 ms instead of 4 ms).
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        status, content_type, payload, extra_headers = self.fake.handle(
            self.command, self.path, headers, body
        )
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in extra_headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its read timeout passed during an injected delay).
            pass

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by http.server
        pass


def _json(status: int, payload: dict[str, Any]) -> tuple:
    return status, "application/json", json.dumps(payload).encode(), {}


def _problem(status: int, title: str, detail: str) -> tuple:
    payload = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return status, "application/problem+json", json.dumps(payload).encode(), {}
