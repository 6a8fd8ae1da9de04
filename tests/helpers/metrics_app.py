"""Airflow's API app with this project's plugin, over a copy of the demo warehouse, for UI tests.

The fixture `metrics_app` builds a validated board report for 2026-05 into a temporary
OUTPUT_DIR and creates the app with two simple-auth-manager users, ADMIN and VIEWER, whose
passwords come from a file the fixture writes. Import it into a conftest.py:

    from helpers.metrics_app import metrics_app  # noqa: F401
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from helpers.demo_warehouse import REPORT_MONTH, cloned_demo

ADMIN = ("admin", "admin-password")
VIEWER = ("viewer", "viewer-password")


def airflow_token(client, user: tuple[str, str]) -> str:
    """Log `user` in through the auth manager's POST /auth/token and return the JWT it issues."""
    username, password = user
    response = client.post("/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


@pytest.fixture(scope="session")
def metrics_app(pg_server, demo_template, airflow_db, tmp_path_factory):
    """Yield {"app", "database", "output_dir"}: the Airflow API app and what it reads."""
    from saas_metrics.reports import build_board_report
    from saas_metrics.reports.validation import from_difference

    monkeypatch = pytest.MonkeyPatch()
    output_dir = tmp_path_factory.mktemp("output")
    passwords = tmp_path_factory.mktemp("auth") / "passwords.json"
    passwords.write_text(json.dumps(dict([ADMIN, VIEWER])))
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(output_dir))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", f"{ADMIN[0]}:admin,{VIEWER[0]}:viewer")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")

    with cloned_demo(pg_server, demo_template) as database:
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", database.uri)
        with database.connect() as conn:
            build_board_report(
                conn,
                REPORT_MONTH,
                validation=from_difference("0.0012", tolerance="0.005", source="analytics.arr_reconciliation"),
                generated_at=dt.datetime(2026, 6, 16, 9, 30, tzinfo=dt.UTC),
            )

        from airflow.api_fastapi.app import create_app, purge_cached_app

        try:
            yield {"app": create_app(), "database": database, "output_dir": output_dir}
        finally:
            purge_cached_app()
            monkeypatch.undo()
