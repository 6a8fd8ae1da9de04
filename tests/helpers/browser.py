"""Headless Chromium and a local HTTP server for browser tests.

`chromium_path` installs Debian's chromium package once per session with
scripts/install-test-browser.sh when /usr/bin/chromium is missing. The server listens on
127.0.0.1 only, on a free port, and stops when the test ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = PROJECT_ROOT / "scripts" / "install-test-browser.sh"
CHROMIUM = Path("/usr/bin/chromium")
APT_GET_MISSING = 3
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
CHROMIUM_TIMEOUT_SECONDS = 90

_install_result: dict[str, object] = {}


def chromium_path() -> Path:
    """Return /usr/bin/chromium, installing it first if needed; skip the test only without apt-get."""
    if "returncode" not in _install_result:
        result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900)
        _install_result.update(returncode=result.returncode, output=result.stdout + result.stderr)
    if _install_result["returncode"] == APT_GET_MISSING:
        pytest.skip(f"Chromium is missing and cannot be installed: {_install_result['output'].strip()}")
    assert _install_result["returncode"] == 0, f"{INSTALL_SCRIPT} failed:\n{_install_result['output']}"
    return CHROMIUM


def run_chromium(url: str, *, user_data_dir: Path, arguments: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run headless Chromium on `url` with a fresh profile; kill its whole process group on timeout."""
    command = [str(chromium_path()), *CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", *arguments, url]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=CHROMIUM_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"Chromium timed out after {CHROMIUM_TIMEOUT_SECONDS} s on {url}:\n{stderr}") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(app):
    """Serve the ASGI `app` on 127.0.0.1 in a background thread; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name=f"test-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError(f"The test server on 127.0.0.1:{port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class CookieLogin:
    """ASGI wrapper that handles GET /_test/login?next=<path> by setting Airflow's `_token` cookie.

    A browser started from the command line cannot be given a cookie, so the test opens this
    URL first. It stores the token the way the Airflow UI does after login, then redirects to
    the `next` path of this server. Every other request goes to the wrapped app unchanged.
    """

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        from urllib.parse import parse_qs

        if scope["type"] != "http" or scope["path"] != "/_test/login":
            await self.app(scope, receive, send)
            return
        next_path = parse_qs(scope["query_string"].decode()).get("next", ["/"])[0]
        if not next_path.startswith("/") or next_path.startswith("//"):
            next_path = "/"
        cookie = f"_token={self.token}; Path=/; HttpOnly; SameSite=Lax"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", next_path.encode()), (b"set-cookie", cookie.encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})
