"""The SaaS metrics plugin app inside the real Airflow API app, with tokens Airflow issues.

The app under test is Airflow's own (airflow.api_fastapi.app.create_app), which mounts the
plugin from plugins/saas_metrics_plugin.py. Users log in through the simple auth manager's
POST /auth/token, exactly as API clients do.
"""

from __future__ import annotations

import pytest

from helpers.demo_warehouse import REPORT_MONTH
from helpers.metrics_app import ADMIN, VIEWER, airflow_token

PREFIX = "/saas-metrics"
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def app(metrics_app):
    return metrics_app


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app["app"])


@pytest.fixture(scope="module")
def admin_headers(client):
    return {"Authorization": f"Bearer {airflow_token(client, ADMIN)}"}


@pytest.fixture(scope="module")
def expected(app):
    with app["database"].connect() as conn:
        row = conn.execute(
            """
            select monthly.mrr, monthly.arr, monthly.paying_customers, ndr.ndr_trailing_12m,
                ndr.gdr_trailing_12m, churn.logo_churn_rate, churn.gross_mrr_churn_rate
            from analytics.mrr_monthly as monthly
            left join analytics.ndr_monthly as ndr on monthly.month_start = ndr.month_start
            left join analytics.churn_monthly as churn on monthly.month_start = churn.month_start
            where monthly.currency_basis = 'reporting' and monthly.month_start = %s
            """,
            (REPORT_MONTH,),
        ).fetchone()
    names = ("mrr", "arr", "paying_customers", "ndr_trailing_12m", "gdr_trailing_12m", "logo_churn_rate",
             "gross_mrr_churn_rate")
    return dict(zip(names, row, strict=True))


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/overview", "/api/quality", "/api/reports",
                                  "/reports/board-report-2026-05.pdf"])
def test_endpoint_rejects_anonymous(client, path):
    response = client.get(f"{PREFIX}{path}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_endpoint_rejects_forged_token(client):
    response = client.get(f"{PREFIX}/api/overview", headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401


def test_endpoint_accepts_cookie_token(client):
    from fastapi.testclient import TestClient

    cookie_client = TestClient(client.app, cookies={"_token": airflow_token(client, ADMIN)})
    assert cookie_client.get(f"{PREFIX}/api/overview").status_code == 200


def test_viewer_may_read(client):
    headers = {"Authorization": f"Bearer {airflow_token(client, VIEWER)}"}
    assert client.get(f"{PREFIX}/api/overview", headers=headers).status_code == 200


def test_page_redirects_anonymous_to_login(client):
    response = client.get(f"{PREFIX}/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login?next=")


# --- metrics overview -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def overview(client, admin_headers):
    response = client.get(f"{PREFIX}/api/overview", headers=admin_headers)
    assert response.status_code == 200
    return response.json()


def test_overview_latest_closed_month(overview):
    assert overview["month"] == "2026-05"
    assert overview["latest"]["is_provisional"] is False


@pytest.mark.parametrize(
    "metric",
    ["mrr", "arr", "paying_customers", "ndr_trailing_12m", "gdr_trailing_12m", "logo_churn_rate",
     "gross_mrr_churn_rate"],
)
def test_overview_matches_tables(overview, expected, metric):
    assert overview["latest"][metric] == pytest.approx(float(expected[metric]), rel=TOLERANCE)


def test_overview_trend_is_twelve_months(overview):
    months = [month["month"] for month in overview["trend"]]
    assert len(months) == 12
    assert months[0] == "2025-06"
    assert months[-1] == "2026-05"


def test_overview_previous_month(overview):
    assert overview["previous"]["month"] == "2026-04"


def test_overview_open_month(overview):
    assert overview["open_month"]["month"] == "2026-06"
    assert overview["open_month"]["is_provisional"] is True


# --- quality gate -----------------------------------------------------------------------------


def test_quality_missing_table(client, admin_headers):
    body = client.get(f"{PREFIX}/api/quality", headers=admin_headers).json()
    assert body["available"] is False
    assert "analytics.data_quality_results does not exist" in body["reason"]


def _insert_check(conn, run_id, table_name, check_name, outcome, action, recorded_at):
    conn.execute(
        "insert into analytics.data_quality_results (dag_id, run_id, task_id, data_interval_end, table_name, "
        "contract, check_name, severity, threshold_level, outcome, action, value, threshold, message, recorded_at) "
        "values ('saas_metrics_daily', %s, 'quality_gate', '2026-06-15T07:00:00Z', %s, 'contract.yml', %s, "
        "'critical', 'fail', %s, %s, 0.01, 'must be <= 0.005 (fail)', 'message', %s)",
        (run_id, table_name, check_name, outcome, action, recorded_at),
    )


@pytest.fixture
def quality(app, client, admin_headers):
    """The quality endpoint's response for two gate runs recorded in the real results table."""
    from saas_metrics.quality.storage import CREATE_RESULTS_TABLE

    with app["database"].connect() as conn:
        conn.execute(CREATE_RESULTS_TABLE)
        _insert_check(conn, "old", "analytics.mrr_monthly", "row_count", "failed", "block", "2026-06-14T07:10:00Z")
        _insert_check(conn, "new", "analytics.mrr_monthly", "row_count", "passed", "pass", "2026-06-15T07:10:00Z")
        _insert_check(conn, "new", "analytics.arr_reconciliation", "arr_matches_finance", "failed", "block",
                      "2026-06-15T07:11:00Z")
        _insert_check(conn, "new", "staging.quarantine", "quarantine_share", "warn", "warn", "2026-06-15T07:11:00Z")
        conn.commit()
    try:
        yield client.get(f"{PREFIX}/api/quality", headers=admin_headers).json()
    finally:
        with app["database"].connect() as conn:
            conn.execute("drop table analytics.data_quality_results")
            conn.commit()


def test_quality_latest_run(quality):
    assert quality["run_id"] == "new"
    assert quality["dag_id"] == "saas_metrics_daily"


def test_quality_counts(quality):
    assert quality["passed"] == 1
    assert quality["failed"] == 1
    assert quality["warnings"] == 1
    assert quality["failed_critical"] == 1


def test_page_lists_failed_check(quality, client):
    from fastapi.testclient import TestClient

    page = TestClient(client.app, cookies={"_token": airflow_token(client, ADMIN)}).get(f"{PREFIX}/").text
    assert '<td class="text failed">failed (block)</td>' in page
    assert "1 failed</span> (1 critical), 1 warnings" in page


def test_quality_failed_first(quality):
    assert [check["check_name"] for check in quality["checks"]] == [
        "arr_matches_finance",
        "quarantine_share",
        "row_count",
    ]


# --- board reports ----------------------------------------------------------------------------


def test_reports_lists_latest(client, admin_headers):
    body = client.get(f"{PREFIX}/api/reports", headers=admin_headers).json()
    assert body["latest"]["month"] == "2026-05"
    assert body["latest"]["validation"]["status"] == "validated"


def test_report_pdf_served(client, admin_headers):
    response = client.get(f"{PREFIX}/reports/board-report-2026-05.pdf", headers=admin_headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


@pytest.mark.parametrize(
    "name", ["board-report-2026-05.json", "passwords.json", "..%2Fboard-report-2026-05.pdf", "board-report-2026-07.pdf"]
)
def test_report_other_files_not_found(client, admin_headers, name):
    assert client.get(f"{PREFIX}/reports/{name}", headers=admin_headers).status_code == 404


# --- page and plugin registration -------------------------------------------------------------


@pytest.fixture(scope="module")
def page(client):
    from fastapi.testclient import TestClient

    cookie_client = TestClient(client.app, cookies={"_token": airflow_token(client, ADMIN)})
    response = cookie_client.get(f"{PREFIX}/")
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("heading", ["Latest board report", "Metrics overview", "Quality gate"])
def test_page_has_section(page, heading):
    assert f"<h2>{heading}</h2>" in page


def test_page_shows_mrr(page, expected):
    assert f"${expected['mrr']:,.0f}" in page


def test_page_links_latest_report(page):
    assert 'href="reports/board-report-2026-05.html"' in page


def test_page_has_no_load_error(page):
    assert "load-error" not in page.replace(".load-error", "")


def test_plugin_registers_nav_view(client, admin_headers):
    plugins = client.get("/api/v2/plugins", headers=admin_headers).json()["plugins"]
    plugin = next(plugin for plugin in plugins if plugin["name"] == "saas_metrics")
    assert plugin["external_views"][0]["url_route"] == "saas-metrics"
    assert plugin["external_views"][0]["href"] == f"{PREFIX}/"
    assert plugin["fastapi_apps"][0]["url_prefix"] == PREFIX
