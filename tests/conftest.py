"""Shared fixtures: an isolated Airflow home and a real PostgreSQL server for the whole session.

Airflow reads its configuration when it is first imported, so the environment is set here,
before any test module imports airflow.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEST_STATE_DIR = Path(os.environ.get("SAAS_METRICS_TEST_DIR") or PROJECT_ROOT / ".local" / "test")
AIRFLOW_HOME = TEST_STATE_DIR / "airflow"

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.setdefault("SODA_TELEMETRY_DISABLED", "true")
# The switch Soda Core 4 reads (saas_metrics.quality sets it too, on import).
os.environ.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")
# Tests never talk to a warehouse configured on the developer's machine.
os.environ.pop("AIRFLOW_CONN_WAREHOUSE", None)


@pytest.fixture(scope="session")
def pg_server():
    """The embedded PostgreSQL server used by every test, in its own data folder."""
    from saas_metrics.warehouse import start_embedded

    return start_embedded(TEST_STATE_DIR / "pgdata")


@pytest.fixture
def warehouse_db(pg_server):
    """A fresh, empty database for one test, dropped afterwards. Yields its Airflow URI."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**pg_server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    uri = pg_server.airflow_uri(name)
    previous = os.environ.get("AIRFLOW_CONN_WAREHOUSE")
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = uri
    try:
        yield WarehouseHandle(name=name, uri=uri, server=pg_server)
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_WAREHOUSE", None)
        else:
            os.environ["AIRFLOW_CONN_WAREHOUSE"] = previous
        with psycopg.connect(**pg_server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


class WarehouseHandle:
    """A test database: its name, Airflow URI, and a helper to open psycopg connections."""

    def __init__(self, name, uri, server):
        self.name = name
        self.uri = uri
        self.server = server

    def connect(self, **kwargs):
        import psycopg

        return psycopg.connect(**self.server.conninfo(self.name), **kwargs)

    def query(self, sql, params=None):
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata database (SQLite) in the test Airflow home."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    from airflow.utils import db

    db.initdb()
    return AIRFLOW_HOME


@pytest.fixture
def artifacts_dir(request):
    """A folder for files a test wants to keep for inspection (reports, screenshots)."""
    path = PROJECT_ROOT / "test-artifacts" / request.node.name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
