"""A small demo company with every daily table built, as a template database that tests clone.

The template is built once per test session: the demo generator's raw tables (seed 7, scale
0.05, history from 2025-01) as of 2026-06-15 07:00 UTC, then every model of the daily DAG
through helpers.models. Cloning it takes a fraction of a second, so each test gets its own
copy and may change it. Import the fixtures into a conftest.py:

    from helpers.demo_warehouse import demo_db, demo_template  # noqa: F401
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from contextlib import contextmanager

import pytest

DEMO_AS_OF = dt.datetime(2026, 6, 15, 7, tzinfo=dt.UTC)
DEMO_SEED = 7
DEMO_SCALE = 0.05
DEMO_HISTORY_START = "2025-01-01"
REPORT_MONTH = dt.date(2026, 5, 1)
TEMPLATE_NAME = "report_demo_template"

_built_templates: set[str] = set()


def build_demo_template(server, name: str = TEMPLATE_NAME) -> str:
    """(Re)create database `name` with the demo company and every daily table; return its name."""
    import psycopg

    from helpers.models import run_models
    from saas_metrics.demo import load_demo_company

    with psycopg.connect(**server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    previous = os.environ.get("AIRFLOW_CONN_WAREHOUSE")
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = server.airflow_uri(name)
    try:
        with psycopg.connect(**server.conninfo(name)) as conn:
            run_models(conn, DEMO_AS_OF, only={"setup_warehouse"})
        load_demo_company(
            conn_id="warehouse", until=DEMO_AS_OF, seed=DEMO_SEED, scale=DEMO_SCALE, history_start=DEMO_HISTORY_START
        )
        with psycopg.connect(**server.conninfo(name)) as conn:
            run_models(conn, DEMO_AS_OF)
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_WAREHOUSE", None)
        else:
            os.environ["AIRFLOW_CONN_WAREHOUSE"] = previous
    return name


@pytest.fixture(scope="session")
def demo_template(pg_server):
    """Name of the demo template database, built on first use in the session."""
    if TEMPLATE_NAME not in _built_templates:
        build_demo_template(pg_server)
        _built_templates.add(TEMPLATE_NAME)
    return TEMPLATE_NAME


class DemoDatabase:
    """A clone of the demo template for one test: its name, Airflow URI and psycopg connections."""

    def __init__(self, name: str, server) -> None:
        self.name = name
        self.server = server
        self.uri = server.airflow_uri(name)

    def connect(self, **kwargs):
        import psycopg

        return psycopg.connect(**self.server.conninfo(self.name), **kwargs)


@contextmanager
def cloned_demo(server, template: str):
    """Yield a DemoDatabase copied from `template`; drop it afterwards."""
    import psycopg

    name = f"demo_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'create database "{name}" template "{template}"')
    try:
        yield DemoDatabase(name, server)
    finally:
        with psycopg.connect(**server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def demo_db(pg_server, demo_template, monkeypatch):
    """A fresh copy of the demo warehouse, exposed as the Airflow connection `warehouse`."""
    with cloned_demo(pg_server, demo_template) as database:
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", database.uri)
        yield database
