"""Hook for Airbyte's public API (Cloud and self-managed) over the airbyte-api SDK.

It reads the same Airflow connection layout as apache-airflow-providers-airbyte, so an
existing `airbyte` connection works unchanged:

- host: the API base URL, `https://api.airbyte.com/v1` for Airbyte Cloud or
  `http(s)://<server>/api/public/v1` for a self-managed server.
- login and password: the application's client id and client secret. Leave both empty for a
  self-managed server without authentication.
- schema: the token URL. Empty means `<host>/applications/token` (see `resolve_token_url`).
- extra, all optional:
  - `timeout`: seconds per request, default 30.
  - `create_job_timeout`: seconds for the request that starts a sync, default 120.
  - `proxies`: a proxy URL, or a mapping like `{"http": url, "https": url}`.
  - `max_retries`: retries of a request that failed with 429, 5xx or a transport error, default 5.
  - `retry_wait_seconds` and `retry_max_wait_seconds`: first and longest backoff, default 1 and 30.
  - `token_request_format`: `json` (default) or `form`, the body of the token request.

The hook fetches and caches the access token itself instead of using the SDK's
client-credentials hook. In airbyte-api 1.0.1 that hook resolves its default token URL
`/applications/token` to the server root, where no Airbyte server serves it, posts only form
bodies, and raises a bare `Exception` for every token failure.

Idempotent requests (get, list, cancel) are retried on HTTP 429, 5xx and transport errors with
exponential backoff and jitter. A 401 or 403 leads to one token refresh, and every other error
fails at once. The request that starts a sync is never repeated blindly, because `start_sync`
looks the job up before it posts again.

The SDK is imported inside methods because DAG files import the operator, and through it this
module, while they are parsed. Importing airbyte_api took about 0.6 s on a 2-vCPU machine
(`python -X importtime`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException, AirflowFailException

T = TypeVar("T")

IN_PROGRESS_STATUSES = frozenset({"pending", "queued", "running", "incomplete"})
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED})

CLOUD_SERVER_URL = "https://api.airbyte.com/v1"
DEFAULT_TIMEOUT_SECONDS = 30.0
# Starting a sync can take minutes on a loaded server, so a short timeout there would turn many
# created jobs into requests of unknown outcome that need a lookup.
DEFAULT_CREATE_JOB_TIMEOUT_SECONDS = 120.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_WAIT_SECONDS = 1.0
DEFAULT_RETRY_MAX_WAIT_SECONDS = 30.0
TOKEN_REQUEST_FORMATS = ("json", "form")

# A token is refreshed this long before the expiry the token endpoint reported, or after three
# quarters of its lifetime when that is shorter, so a request never leaves with a token that
# expires on the way.
TOKEN_REFRESH_MARGIN_SECONDS = 60.0

# After a create request with an unknown outcome (timeout, 5xx), a sync job of the connection
# that started at most this long before the request counts as the job that request created.
# The margin allows for clock drift between this worker and the Airbyte server.
CREATE_LOOKUP_CLOCK_SKEW = timedelta(minutes=2)

# How many of a connection's most recent jobs the lookup reads. Airbyte runs one sync per
# connection at a time, so a sync in progress is always among the newest jobs.
RECENT_JOBS_LIMIT = 20

ERROR_BODY_MAX_CHARS = 500


class AirbyteError(AirflowException):
    """A request to the Airbyte API failed, but a later attempt (a task retry) may succeed."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class AirbyteTransientError(AirbyteError):
    """HTTP 429, 5xx or a transport error, after which the same request may succeed later."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class AirbyteConflictError(AirbyteError):
    """HTTP 409 from the request that starts a sync, because Airbyte reports a sync running."""


class AirbytePermanentError(AirflowFailException):
    """The request will fail the same way if it is repeated, so task retries cannot help."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class AirbyteConfigurationError(AirbytePermanentError):
    """The Airflow connection is incomplete or points at something that is not the API."""


class AirbyteAuthError(AirbytePermanentError):
    """Airbyte rejected the credentials (HTTP 401 or 403), also after a token refresh.

    `token_endpoint` is True when the token endpoint itself rejected the client credentials,
    where asking for another token cannot help.
    """

    def __init__(self, message: str, *, status_code: int | None = None, token_endpoint: bool = False):
        super().__init__(message, status_code=status_code)
        self.token_endpoint = token_endpoint


class AirbyteNotFoundError(AirbytePermanentError):
    """HTTP 404: the job or endpoint does not exist on this server."""


class AirbyteInvalidResponseError(AirbytePermanentError):
    """The server returned a response that does not have the public API's documented shape."""


@dataclass(frozen=True)
class JobSnapshot:
    """An Airbyte job as read at one moment, in plain types that trigger events can carry."""

    job_id: int
    connection_id: str
    status: str
    job_type: str | None = None
    start_time: str | None = None
    last_updated_at: str | None = None
    duration: str | None = None
    rows_synced: int | None = None
    bytes_synced: int | None = None

    @property
    def is_in_progress(self) -> bool:
        return self.status in IN_PROGRESS_STATUSES

    @property
    def started_at(self) -> datetime | None:
        """The job's start time as an aware UTC datetime, or None when absent or unreadable."""
        return parse_timestamp(self.start_time)

    @classmethod
    def from_response(cls, job: Any) -> JobSnapshot:
        """Convert an SDK `JobResponse`."""
        return cls(
            job_id=int(job.job_id),
            connection_id=str(job.connection_id),
            status=_enum_value(job.status),
            job_type=_enum_value(job.job_type),
            start_time=job.start_time,
            last_updated_at=job.last_updated_at,
            duration=job.duration,
            rows_synced=job.rows_synced,
            bytes_synced=job.bytes_synced,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSnapshot:
        return cls(**data)


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse an ISO 8601 timestamp from Airbyte (e.g. `2024-01-01T00:00:00Z`) into UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def resolve_token_url(server_url: str, token_url: str | None) -> str:
    """Return the absolute token endpoint URL for a server URL and the connection's schema.

    - empty: `<server_url>/applications/token`, right for Cloud and for self-managed servers;
    - an absolute URL: used as given;
    - a path starting with `/`: taken from the server's root, e.g.
      `/api/public/v1/applications/token`;
    - any other relative value: joined like a link on the page `<server_url>`, which replaces
      the last path segment. The provider's default `v1/applications/token` therefore resolves
      to `https://api.airbyte.com/v1/applications/token` on Cloud and to
      `http://host:8000/api/public/v1/applications/token` on a self-managed server.
    """
    base = server_url.rstrip("/")
    value = (token_url or "").strip()
    if not value:
        return f"{base}/applications/token"
    parts = urlsplit(value)
    if parts.scheme and parts.netloc:
        return value
    if value.startswith("/"):
        root = urlsplit(base)
        return f"{root.scheme}://{root.netloc}{value}"
    return urljoin(base, value)


@dataclass(frozen=True)
class AirbyteConnectionSettings:
    """Settings read from one Airflow connection. Secrets are left out of `repr`."""

    conn_id: str
    server_url: str
    token_url: str | None
    client_id: str | None
    client_secret: str | None = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    create_job_timeout: float = DEFAULT_CREATE_JOB_TIMEOUT_SECONDS
    proxies: str | dict[str, str] | None = field(default=None, repr=False)
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_wait: float = DEFAULT_RETRY_WAIT_SECONDS
    retry_max_wait: float = DEFAULT_RETRY_MAX_WAIT_SECONDS
    token_request_format: str = "json"

    @property
    def has_credentials(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @classmethod
    def from_connection(cls, conn: Any) -> AirbyteConnectionSettings:
        """Read and validate an Airflow `Connection`. Raises `AirbyteConfigurationError`."""
        conn_id = conn.conn_id

        host = (conn.host or "").strip()
        if not host:
            raise AirbyteConfigurationError(
                f"Airflow connection {conn_id!r} has no host. Set it to the Airbyte API URL: "
                f"{CLOUD_SERVER_URL} for Airbyte Cloud, or http(s)://<server>/api/public/v1 for a "
                "self-managed server."
            )
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AirbyteConfigurationError(
                f"The host of Airflow connection {conn_id!r} is {host!r}, which is not an http(s) "
                f"URL. Set it to the full API URL, e.g. {CLOUD_SERVER_URL} or "
                "http://airbyte.internal:8000/api/public/v1."
            )

        client_id = conn.login or None
        client_secret = conn.password or None
        if bool(client_id) != bool(client_secret):
            missing = "password (client secret)" if client_id else "login (client id)"
            raise AirbyteConfigurationError(
                f"Airflow connection {conn_id!r} sets only one of login and password; its {missing} "
                "is missing. Set both for client-credentials authentication, or neither for a "
                "self-managed server without authentication."
            )

        extra = conn.extra_dejson or {}
        token_request_format = str(extra.get("token_request_format", "json")).lower()
        if token_request_format not in TOKEN_REQUEST_FORMATS:
            raise AirbyteConfigurationError(
                f"Extra token_request_format of Airflow connection {conn_id!r} is "
                f"{extra.get('token_request_format')!r}; use one of {', '.join(TOKEN_REQUEST_FORMATS)}."
            )

        return cls(
            conn_id=conn_id,
            server_url=host.rstrip("/"),
            token_url=conn.schema or None,
            client_id=client_id,
            client_secret=client_secret,
            timeout=_positive_number(extra, "timeout", DEFAULT_TIMEOUT_SECONDS, conn_id),
            create_job_timeout=_positive_number(
                extra, "create_job_timeout", DEFAULT_CREATE_JOB_TIMEOUT_SECONDS, conn_id
            ),
            proxies=_proxies(extra.get("proxies"), conn_id),
            max_retries=int(
                _positive_number(extra, "max_retries", DEFAULT_MAX_RETRIES, conn_id, zero_ok=True)
            ),
            retry_wait=_positive_number(extra, "retry_wait_seconds", DEFAULT_RETRY_WAIT_SECONDS, conn_id),
            retry_max_wait=_positive_number(
                extra, "retry_max_wait_seconds", DEFAULT_RETRY_MAX_WAIT_SECONDS, conn_id
            ),
            token_request_format=token_request_format,
        )


def _positive_number(
    extra: dict[str, Any], key: str, default: float, conn_id: str, *, zero_ok: bool = False
) -> float:
    raw = extra.get(key)
    if raw is None or raw == "":
        return float(default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if value < 0 or (value == 0 and not zero_ok):
        bound = "zero or more" if zero_ok else "greater than zero"
        raise AirbyteConfigurationError(
            f"Extra {key} of Airflow connection {conn_id!r} is {raw!r}; it must be a number {bound}."
        )
    return value


def _proxies(raw: Any, conn_id: str) -> str | dict[str, str] | None:
    if raw in (None, "", {}):
        return None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict) and all(isinstance(v, str) for v in raw.values()):
        return {str(k): v for k, v in raw.items()}
    raise AirbyteConfigurationError(
        f"Extra proxies of Airflow connection {conn_id!r} must be a proxy URL or a mapping like "
        '{"http": "http://proxy:3128", "https": "http://proxy:3128"}.'
    )


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """Return the TLS context that every HTTP client of this process shares.

    httpx builds a new context per client by default, which loads the CA bundle: 30 to 60 ms on
    a 2-vCPU machine. In the triggerer that would block the event loop once per trigger.
    """
    return httpx.create_ssl_context()


def _proxy_mounts(proxies: str | dict[str, str] | None, transport_class: type) -> dict[str, Any]:
    """Build httpx `mounts` that send each URL scheme through its proxy."""
    if proxies is None:
        return {}
    if isinstance(proxies, str):
        proxies = {"http": proxies, "https": proxies}
    mounts = {}
    for scheme, proxy_url in proxies.items():
        pattern = scheme if scheme.endswith("://") else f"{scheme}://"
        mounts[pattern] = transport_class(proxy=proxy_url, verify=shared_ssl_context())
    return mounts


@dataclass
class _AccessToken:
    value: str = field(repr=False)
    # A time.monotonic() value. None means the token is used until the server rejects it.
    refresh_at: float | None

    def is_fresh(self) -> bool:
        return self.refresh_at is None or time.monotonic() < self.refresh_at


@dataclass
class _RetryState:
    attempt: int = 0
    token_refreshed: bool = False


class AirbyteHook(BaseHook):
    """
    Interact with Airbyte's public API: start, read, list and cancel jobs.

    The constructor only stores its arguments, and the connection is read on first use. The
    synchronous methods read it with `get_connection`. The `a*` methods use `aget_connection`
    and httpx.AsyncClient, so they never block the event loop.

    :param airbyte_conn_id: Airflow connection of type `airbyte` (layout in the module docstring).
    """

    conn_name_attr = "airbyte_conn_id"
    default_conn_name = "airbyte_default"
    conn_type = "airbyte"
    hook_name = "Airbyte (public API)"

    def __init__(self, *, airbyte_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.airbyte_conn_id = airbyte_conn_id
        self._settings: AirbyteConnectionSettings | None = None
        self._token: _AccessToken | None = None
        self._http_client: httpx.Client | None = None
        self._async_http_client: httpx.AsyncClient | None = None
        self._sdk: Any = None
        self._async_sdk: Any = None

    # -- connection and clients ----------------------------------------------------------------

    @property
    def settings(self) -> AirbyteConnectionSettings:
        if self._settings is None:
            self._settings = self._load_settings(self.get_connection(self.airbyte_conn_id))
        return self._settings

    async def asettings(self) -> AirbyteConnectionSettings:
        if self._settings is None:
            self._settings = self._load_settings(await self.aget_connection(self.airbyte_conn_id))
        return self._settings

    def _load_settings(self, conn: Any) -> AirbyteConnectionSettings:
        settings = AirbyteConnectionSettings.from_connection(conn)
        path = urlsplit(settings.server_url).path.rstrip("/")
        if path.endswith("/api/v1"):
            self.log.warning(
                "The host of Airflow connection %s ends in /api/v1, which on self-managed Airbyte is "
                "the internal configuration API. The public API that this hook calls is at "
                "/api/public/v1.",
                settings.conn_id,
            )
        if settings.has_credentials:
            self.log.info(
                "Airbyte connection %s: server %s, token endpoint %s",
                settings.conn_id,
                redact_url(settings.server_url),
                redact_url(resolve_token_url(settings.server_url, settings.token_url)),
            )
        else:
            self.log.info(
                "Airbyte connection %s: server %s, no client credentials, so requests are sent "
                "without authentication",
                settings.conn_id,
                redact_url(settings.server_url),
            )
        return settings

    @property
    def token_url(self) -> str:
        return resolve_token_url(self.settings.server_url, self.settings.token_url)

    def _client_kwargs(self, transport_class: type) -> dict[str, Any]:
        settings = self.settings
        return {
            "timeout": httpx.Timeout(settings.timeout),
            "follow_redirects": True,
            "verify": shared_ssl_context(),
            "mounts": _proxy_mounts(settings.proxies, transport_class),
        }

    def _get_sdk(self) -> Any:
        if self._sdk is None:
            from airbyte_api import AirbyteAPI

            self._http_client = httpx.Client(**self._client_kwargs(httpx.HTTPTransport))
            self._sdk = AirbyteAPI(
                server_url=self.settings.server_url,
                client=self._http_client,
                security=self._current_security,
            )
        return self._sdk

    def _get_async_sdk(self) -> Any:
        if self._async_sdk is None:
            from airbyte_api import AirbyteAPI

            self._async_http_client = httpx.AsyncClient(**self._client_kwargs(httpx.AsyncHTTPTransport))
            self._async_sdk = AirbyteAPI(
                server_url=self.settings.server_url,
                async_client=self._async_http_client,
                # Without a client the SDK builds a default one, with a TLS context of its own.
                client=httpx.Client(verify=shared_ssl_context()),
                security=self._current_security,
            )
        return self._async_sdk

    def _current_security(self) -> Any:
        """Return the SDK security object for the cached token. The SDK calls this per request."""
        if self._token is None:
            return None
        from airbyte_api import models

        return models.Security(bearer_auth=self._token.value)

    def close(self) -> None:
        """Close the synchronous HTTP client."""
        if self._http_client is not None:
            self._http_client.close()
        self._http_client = None
        self._sdk = None

    async def aclose(self) -> None:
        """Close the asynchronous HTTP client."""
        if self._async_http_client is not None:
            await self._async_http_client.aclose()
        self._async_http_client = None
        self._async_sdk = None

    # -- access token --------------------------------------------------------------------------

    def _token_request(self) -> tuple[str, dict[str, Any]]:
        settings = self.settings
        credentials = {"client_id": settings.client_id, "client_secret": settings.client_secret}
        headers = {"Accept": "application/json"}
        if settings.token_request_format == "form":
            # OAuth 2 form encoding, as the SDK sends it.
            body = {"grant_type": "client_credentials", **credentials}
            return self.token_url, {"data": body, "headers": headers}
        # The JSON body of Airbyte's API reference, whose grant field is spelled "grant-type".
        body = {**credentials, "grant-type": "client_credentials"}
        return self.token_url, {"json": body, "headers": headers}

    def _ensure_token(self) -> None:
        if not self.settings.has_credentials or (self._token is not None and self._token.is_fresh()):
            return
        url, request_kwargs = self._token_request()
        self._get_sdk()
        assert self._http_client is not None
        try:
            response = self._http_client.post(url, **request_kwargs)
        except httpx.TransportError as error:
            raise self._token_transport_error(url, error) from error
        self._token = self._parse_token_response(url, response)

    async def _aensure_token(self) -> None:
        settings = await self.asettings()
        if not settings.has_credentials or (self._token is not None and self._token.is_fresh()):
            return
        url, request_kwargs = self._token_request()
        self._get_async_sdk()
        assert self._async_http_client is not None
        try:
            response = await self._async_http_client.post(url, **request_kwargs)
        except httpx.TransportError as error:
            raise self._token_transport_error(url, error) from error
        self._token = self._parse_token_response(url, response)

    def _token_transport_error(self, url: str, error: Exception) -> AirbyteTransientError:
        shown_url = redact_url(url)
        return AirbyteTransientError(
            f"Could not reach the Airbyte token endpoint {shown_url} of connection "
            f"{self.airbyte_conn_id!r}: {type(error).__name__}: {error}"
        )

    def _parse_token_response(self, url: str, response: httpx.Response) -> _AccessToken:
        """Turn a token endpoint response into a token, or raise an error that names the fix.

        A successful body is never put into a message or log because it contains the token.
        """
        self._raise_for_token_status(url, response)
        conn_id = self.airbyte_conn_id
        shown_url = redact_url(url)
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            content_type = response.headers.get("content-type") or "none"
            raise AirbyteConfigurationError(
                f"The Airbyte token endpoint {shown_url} returned HTTP {response.status_code} with content "
                f"type {content_type} instead of a JSON object, which usually means the URL points at "
                "the Airbyte web app rather than the API. Check the host and schema (token URL) of "
                f"Airflow connection {conn_id!r}.",
                status_code=response.status_code,
            )
        token_value = payload.get("access_token")
        if not isinstance(token_value, str) or not token_value:
            raise AirbyteConfigurationError(
                f"The Airbyte token endpoint {shown_url} returned no access_token field. Check "
                f"the schema (token URL) of Airflow connection {conn_id!r}."
            )
        token_type = payload.get("token_type")
        if token_type is not None and str(token_type).lower() != "bearer":
            raise AirbyteConfigurationError(
                f"The Airbyte token endpoint {shown_url} returned a token of type {token_type!r}, but this "
                f"hook sends bearer tokens only. Check the schema (token URL) of Airflow connection "
                f"{conn_id!r}."
            )
        # Some self-managed versions leave out token_type and expires_in. Without an expiry the
        # token is used until the API rejects it, and then refreshed once.
        expires_in = payload.get("expires_in")
        refresh_at = None
        if isinstance(expires_in, (int, float)) and expires_in > 0:
            margin = min(TOKEN_REFRESH_MARGIN_SECONDS, expires_in / 4)
            refresh_at = time.monotonic() + expires_in - margin
        self.log.info(
            "Fetched an Airbyte access token from %s (expires in %s s)",
            shown_url,
            expires_in if expires_in is not None else "unknown",
        )
        return _AccessToken(value=token_value, refresh_at=refresh_at)

    def _raise_for_token_status(self, url: str, response: httpx.Response) -> None:
        conn_id = self.airbyte_conn_id
        shown_url = redact_url(url)
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (401, 403):
            raise AirbyteAuthError(
                f"The Airbyte token endpoint {shown_url} rejected the client credentials of Airflow "
                f"connection {conn_id!r} (HTTP {status}). Check the client id (login) and client "
                "secret (password). If they are right and the server is self-managed, set the "
                'extra "token_request_format" to "form" or "json" to change how they are sent.',
                status_code=status,
                token_endpoint=True,
            )
        if status in (404, 405):
            raise AirbyteConfigurationError(
                f"No Airbyte token endpoint at {shown_url} (HTTP {status}). Leave the schema (token URL) "
                f"of Airflow connection {conn_id!r} empty to use "
                f"{redact_url(self.settings.server_url)}/applications/token, or set it to the full "
                "token URL.",
                status_code=status,
            )
        if status == 429 or status >= 500:
            raise AirbyteTransientError(
                f"The Airbyte token endpoint {shown_url} returned HTTP {status}.",
                status_code=status,
                retry_after=_retry_after_seconds(response.headers),
            )
        body = _truncate(response.text)
        if self.settings.client_secret:
            body = body.replace(self.settings.client_secret, "***")
        raise AirbyteConfigurationError(
            f"The Airbyte token endpoint {shown_url} returned HTTP {status}: {body}. Check the token URL "
            f"and credentials of Airflow connection {conn_id!r}.",
            status_code=status,
        )

    # -- error handling and retries ------------------------------------------------------------

    def _classify(self, error: Exception, operation: str) -> Exception:
        """Map an SDK or transport exception to this module's error types.

        Exceptions this hook does not recognise are returned unchanged and re-raised as is.
        """
        from airbyte_api import errors

        if isinstance(error, (AirbyteError, AirbytePermanentError)):
            return error
        where = f"{operation} on Airbyte server {redact_url(self.settings.server_url)}"
        if isinstance(error, errors.ResponseValidationError):
            return AirbyteInvalidResponseError(
                f"{where} returned a response that does not match the public API: "
                f"{_describe_validation_error(error)}.",
                status_code=error.status_code,
            )
        if isinstance(error, errors.SDKError):
            return self._classify_status(error, where)
        if isinstance(error, errors.NoResponseError):
            return AirbyteTransientError(f"{where} got no response.")
        if isinstance(error, httpx.TimeoutException):
            return AirbyteTransientError(
                f"{where} timed out ({type(error).__name__}) after the connection's request timeout "
                f"of {self.settings.timeout:g} s."
            )
        if isinstance(error, httpx.TransportError):
            return AirbyteTransientError(f"{where} failed: {type(error).__name__}: {error}")
        return error

    def _classify_status(self, error: Any, where: str) -> Exception:
        status = error.status_code
        content_type = error.headers.get("content-type", "")
        body = _truncate(error.body)
        if 200 <= status < 300:
            return AirbyteInvalidResponseError(
                f"{where} returned HTTP {status} with content type {content_type or 'none'} instead "
                "of JSON. The host of Airflow connection "
                f"{self.airbyte_conn_id!r} is probably not the public API base URL; use "
                f"{CLOUD_SERVER_URL} for Cloud or http(s)://<server>/api/public/v1 for a "
                "self-managed server.",
                status_code=status,
            )
        if status in (401, 403):
            return AirbyteAuthError(
                f"{where} was rejected with HTTP {status}: {body}. Check that the application "
                f"behind Airflow connection {self.airbyte_conn_id!r} still exists and can access "
                "this connection's workspace.",
                status_code=status,
            )
        if status == 404:
            return AirbyteNotFoundError(
                f"{where} returned HTTP 404 (not found): {body}. Check the id, and that the host of "
                f"Airflow connection {self.airbyte_conn_id!r} is the server and workspace that own it.",
                status_code=404,
            )
        if status == 409:
            return AirbyteConflictError(f"{where} returned HTTP 409 (conflict): {body}", status_code=409)
        if status == 429 or status >= 500:
            return AirbyteTransientError(
                f"{where} returned HTTP {status}: {body}",
                status_code=status,
                retry_after=_retry_after_seconds(error.headers),
            )
        return AirbytePermanentError(f"{where} returned HTTP {status}: {body}", status_code=status)

    def _next_retry_delay(
        self, failure: Exception, state: _RetryState, operation: str, retry_transient: bool
    ) -> float | None:
        """Return how long to wait before repeating the request, or None to give up.

        A 401 or 403 from the API (not from the token endpoint) gets one new token and one more
        try, with no wait. Transient failures wait with exponential backoff and jitter, or for
        the server's Retry-After when that is longer, capped at `retry_max_wait`.
        """
        settings = self.settings
        if (
            isinstance(failure, AirbyteAuthError)
            and failure.status_code is not None
            and settings.has_credentials
            and not state.token_refreshed
            and not failure.token_endpoint
        ):
            state.token_refreshed = True
            self._token = None
            self.log.warning(
                "%s was rejected with HTTP %s; fetching a new access token and trying once more",
                operation,
                failure.status_code,
            )
            return 0.0
        if not (retry_transient and isinstance(failure, AirbyteTransientError)):
            return None
        if state.attempt >= settings.max_retries:
            return None
        delay = self._backoff_delay(state.attempt, failure.retry_after)
        state.attempt += 1
        self.log.warning(
            "%s failed: %s. Retry %s of %s in %.1f s.",
            operation,
            failure,
            state.attempt,
            settings.max_retries,
            delay,
        )
        return delay

    def _backoff_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Return the wait before retry number `attempt + 1`: exponential, with jitter.

        The jitter (50 to 100 % of the exponential step) keeps the six parallel syncs of a
        DAG run from retrying in lockstep against a struggling server.
        """
        settings = self.settings
        ceiling = min(settings.retry_max_wait, settings.retry_wait * (2**attempt))
        delay = ceiling * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, settings.retry_max_wait))
        return delay

    def _call(self, operation: str, send: Callable[[Any], T], *, retry_transient: bool = True) -> T:
        state = _RetryState()
        while True:
            try:
                self._ensure_token()
                return send(self._get_sdk())
            except Exception as error:
                failure = self._classify(error, operation)
                delay = self._next_retry_delay(failure, state, operation, retry_transient)
                if delay is None:
                    if failure is error:
                        raise
                    raise failure from error
                time.sleep(delay)

    async def _acall(
        self, operation: str, send: Callable[[Any], Awaitable[T]], *, retry_transient: bool = True
    ) -> T:
        state = _RetryState()
        await self.asettings()
        while True:
            try:
                await self._aensure_token()
                return await send(self._get_async_sdk())
            except Exception as error:
                failure = self._classify(error, operation)
                delay = self._next_retry_delay(failure, state, operation, retry_transient)
                if delay is None:
                    if failure is error:
                        raise
                    raise failure from error
                await asyncio.sleep(delay)

    # -- jobs API ------------------------------------------------------------------------------

    def get_job(self, job_id: int) -> JobSnapshot:
        """Read job `job_id`, retrying transient failures."""
        from airbyte_api import api

        response = self._call(
            f"Reading job {job_id}",
            lambda sdk: sdk.jobs.get_job(request=api.GetJobRequest(job_id=int(job_id))),
        )
        return self._snapshot(response, f"Reading job {job_id}")

    async def aget_job(self, job_id: int) -> JobSnapshot:
        """Read job `job_id` without blocking the event loop, retrying transient failures."""
        from airbyte_api import api

        response = await self._acall(
            f"Reading job {job_id}",
            lambda sdk: sdk.jobs.get_job_async(request=api.GetJobRequest(job_id=int(job_id))),
        )
        return self._snapshot(response, f"Reading job {job_id}")

    def cancel_job(self, job_id: int) -> JobSnapshot:
        """Cancel job `job_id` and return the job as the server reports it afterwards."""
        from airbyte_api import api

        response = self._call(
            f"Cancelling job {job_id}",
            lambda sdk: sdk.jobs.cancel_job(request=api.CancelJobRequest(job_id=int(job_id))),
        )
        return self._snapshot(response, f"Cancelling job {job_id}")

    async def acancel_job(self, job_id: int) -> JobSnapshot:
        """Cancel job `job_id` without blocking the event loop."""
        from airbyte_api import api

        response = await self._acall(
            f"Cancelling job {job_id}",
            lambda sdk: sdk.jobs.cancel_job_async(request=api.CancelJobRequest(job_id=int(job_id))),
        )
        return self._snapshot(response, f"Cancelling job {job_id}")

    def list_recent_sync_jobs(
        self, connection_id: str, *, limit: int = RECENT_JOBS_LIMIT
    ) -> list[JobSnapshot]:
        """Return the connection's newest sync jobs, newest first."""
        from airbyte_api import api, models

        operation = f"Listing sync jobs of connection {connection_id}"
        response = self._call(
            operation,
            lambda sdk: sdk.jobs.list_jobs(
                request=api.ListJobsRequest(
                    connection_id=connection_id,
                    job_type=models.JobTypeEnum.SYNC,
                    limit=limit,
                    order_by="createdAt|DESC",
                )
            ),
        )
        jobs_response = response.jobs_response
        if jobs_response is None:
            raise AirbyteInvalidResponseError(f"{operation} returned no job list.")
        jobs = [JobSnapshot.from_response(job) for job in jobs_response.data]
        # Sort here as well, because the server's ordering is not part of the SDK's contract.
        return sorted(jobs, key=lambda job: job.job_id, reverse=True)

    def create_sync_job(self, connection_id: str) -> JobSnapshot:
        """Send one request to start a sync. Transient failures are raised, not retried."""
        from airbyte_api import models

        operation = f"Starting a sync of connection {connection_id}"
        timeout_ms = int(self.settings.create_job_timeout * 1000)
        response = self._call(
            operation,
            lambda sdk: sdk.jobs.create_job(
                request=models.JobCreateRequest(
                    connection_id=connection_id, job_type=models.JobTypeEnum.SYNC
                ),
                timeout_ms=timeout_ms,
            ),
            retry_transient=False,
        )
        return self._snapshot(response, operation)

    def find_sync_job(
        self, connection_id: str, *, requested_since: datetime | None = None
    ) -> JobSnapshot | None:
        """Return a sync of the connection that is in progress, or that a request may have started.

        A job in progress (pending, queued, running, incomplete) always matches. With
        `requested_since`, a job in any status that started at or after that moment, less
        `CREATE_LOOKUP_CLOCK_SKEW`, also matches: it is the job an earlier create request
        started, even if it has already finished.
        """
        jobs = self.list_recent_sync_jobs(connection_id)
        for job in jobs:
            if job.is_in_progress:
                return job
        if requested_since is None:
            return None
        earliest = requested_since - CREATE_LOOKUP_CLOCK_SKEW
        for job in jobs:
            started_at = job.started_at
            if started_at is not None and started_at >= earliest:
                return job
        return None

    def start_sync(self, connection_id: str) -> tuple[JobSnapshot, bool]:
        """Start a sync of the connection, or attach to the one already in progress.

        Returns the job and whether it was attached to (True) rather than started (False).
        Before every create request it lists the connection's jobs, so a sync that is pending,
        queued or running, or that an earlier request of this call started, is reused instead of
        started twice. A 409, a timeout, a 5xx or a transport error on the create request leads
        to another lookup, with backoff, up to the connection's `max_retries`.
        """
        settings = self.settings
        requested_since: datetime | None = None
        last_failure: AirbyteError | None = None
        for attempt in range(settings.max_retries + 1):
            job = self.find_sync_job(connection_id, requested_since=requested_since)
            if job is not None:
                reason = (
                    "started by an earlier request of this task"
                    if requested_since is not None and not job.is_in_progress
                    else f"already {job.status}"
                )
                self.log.info(
                    "Attaching to Airbyte job %s of connection %s (%s) instead of starting another sync",
                    job.job_id,
                    connection_id,
                    reason,
                )
                return job, True
            if requested_since is None:
                requested_since = datetime.now(UTC)
            try:
                job = self.create_sync_job(connection_id)
            except AirbyteConflictError as error:
                self.log.warning(
                    "Airbyte rejected the request to start a sync of connection %s because one is "
                    "running (%s). Looking for that job to attach to it.",
                    connection_id,
                    error,
                )
                last_failure = error
            except AirbyteTransientError as error:
                self.log.warning(
                    "The request that starts a sync of connection %s failed: %s. The job may have been "
                    "created anyway, so it is looked up before any new request.",
                    connection_id,
                    error,
                )
                last_failure = error
            else:
                self.log.info("Started Airbyte job %s for connection %s", job.job_id, connection_id)
                return job, False
            if attempt == settings.max_retries:
                break
            delay = self._backoff_delay(attempt, getattr(last_failure, "retry_after", None))
            self.log.info("Looking up the jobs of connection %s again in %.1f s", connection_id, delay)
            time.sleep(delay)
        raise AirbyteError(
            f"Could not start or find a sync of Airbyte connection {connection_id} after "
            f"{settings.max_retries + 1} attempts. Last error: {last_failure}. If Airbyte reports a "
            "sync as running but lists none, check the connection's job history in the Airbyte UI, "
            "then clear this task to try again.",
            status_code=getattr(last_failure, "status_code", None),
        )

    def _snapshot(self, response: Any, operation: str) -> JobSnapshot:
        job = getattr(response, "job_response", None)
        if job is None:
            raise AirbyteInvalidResponseError(f"{operation} returned no job in its response.")
        return JobSnapshot.from_response(job)

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a token (when credentials are set) and list one job, as the Airflow UI's test button does."""
        from airbyte_api import api

        try:
            self._call("Listing jobs", lambda sdk: sdk.jobs.list_jobs(request=api.ListJobsRequest(limit=1)))
        except (AirbyteError, AirbytePermanentError) as error:
            return False, str(error)
        return True, f"Connected to the Airbyte API at {redact_url(self.settings.server_url)}"


def redact_url(url: str) -> str:
    """Return `url` without a user name or password, for logs and error messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


def _retry_after_seconds(headers: httpx.Headers) -> float | None:
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _truncate(text: str | None) -> str:
    if not text:
        return '""'
    text = " ".join(text.split())
    if len(text) <= ERROR_BODY_MAX_CHARS:
        return text
    return f"{text[:ERROR_BODY_MAX_CHARS]}... ({len(text) - ERROR_BODY_MAX_CHARS} more characters)"


def _describe_validation_error(error: Any) -> str:
    """Name the unknown job status or the missing fields in a response the SDK could not parse."""
    try:
        payload = json.loads(error.body)
    except (TypeError, ValueError):
        return f"the body is not JSON: {_truncate(error.body)}"
    jobs = payload.get("data") if isinstance(payload, dict) and "data" in payload else [payload]
    problems = []
    for job in jobs if isinstance(jobs, list) else []:
        if not isinstance(job, dict):
            continue
        status = job.get("status")
        known = ", ".join(sorted(IN_PROGRESS_STATUSES | TERMINAL_STATUSES))
        if status is not None and status not in IN_PROGRESS_STATUSES | TERMINAL_STATUSES:
            problems.append(f"job {job.get('jobId')} has status {status!r}, which is not one of {known}")
        missing = [
            key for key in ("jobId", "connectionId", "status", "jobType", "startTime") if key not in job
        ]
        if missing:
            problems.append(f"job {job.get('jobId')} is missing {', '.join(missing)}")
    if problems:
        return "; ".join(problems)
    cause = getattr(error, "cause", None)
    return f"{cause or error}"
