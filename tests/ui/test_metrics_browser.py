"""The metrics page and a board report in headless Chromium, served by Airflow's API app.

Screenshots are kept in test-artifacts/metrics-page/ for inspection.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.browser import CookieLogin, run_chromium, serve
from helpers.metrics_app import ADMIN, airflow_token

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "metrics-page"
PAGE_HEADINGS = ("SaaS metrics", "Latest board report", "Metrics overview", "Quality gate")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser(metrics_app, tmp_path_factory):
    """Open the page logged in (DOM and screenshot), logged out, and the latest board report."""
    import shutil

    from fastapi.testclient import TestClient

    token = airflow_token(TestClient(metrics_app["app"]), ADMIN)
    profiles = tmp_path_factory.mktemp("chromium")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    page_login = "/_test/login?next=/saas-metrics/"
    report_login = "/_test/login?next=/saas-metrics/reports/board-report-2026-05.html"
    ui_login = "/_test/login?next=/plugin/saas-metrics"
    # The Airflow UI is a single-page app that draws the plugin's iframe after its API calls,
    # so Chromium runs its scripts for a while of virtual time before it dumps or captures.
    ui_wait = ("--virtual-time-budget=15000", "--run-all-compositor-stages-before-draw")
    with serve(CookieLogin(metrics_app["app"], token)) as base_url:
        return {
            "page": run_chromium(
                base_url + page_login, user_data_dir=profiles / "page", arguments=("--dump-dom",)
            ),
            "page_screenshot": run_chromium(
                base_url + page_login,
                user_data_dir=profiles / "page-screenshot",
                arguments=(f"--screenshot={ARTIFACTS / 'metrics-page.png'}", "--window-size=1280,2000",
                           "--hide-scrollbars"),
            ),
            "anonymous": run_chromium(
                f"{base_url}/saas-metrics/", user_data_dir=profiles / "anonymous", arguments=("--dump-dom",)
            ),
            "report": run_chromium(
                base_url + report_login, user_data_dir=profiles / "report", arguments=("--dump-dom",)
            ),
            "ui": run_chromium(
                base_url + ui_login, user_data_dir=profiles / "ui", arguments=("--dump-dom", *ui_wait)
            ),
            "ui_screenshot": run_chromium(
                base_url + ui_login,
                user_data_dir=profiles / "ui-screenshot",
                arguments=(f"--screenshot={ARTIFACTS / 'airflow-ui.png'}", "--window-size=1440,1000", *ui_wait),
            ),
            "report_screenshot": run_chromium(
                base_url + report_login,
                user_data_dir=profiles / "report-screenshot",
                arguments=(f"--screenshot={ARTIFACTS / 'board-report.png'}", "--window-size=1280,4000",
                           "--hide-scrollbars"),
            ),
        }


BROWSER_RUNS = ("page", "page_screenshot", "anonymous", "report", "report_screenshot", "ui", "ui_screenshot")


@pytest.mark.parametrize("run", BROWSER_RUNS)
def test_chromium_exits_cleanly(browser, run):
    assert browser[run].returncode == 0, browser[run].stderr[-2000:]


@pytest.mark.parametrize("heading", PAGE_HEADINGS)
def test_page_renders_heading(browser, heading):
    assert f">{heading}</h" in browser["page"].stdout


def test_page_has_no_error_marker(browser):
    assert 'class="load-error"' not in browser["page"].stdout


def test_page_shows_validated_report(browser):
    assert "Validated by finance: ARR within 0.12 %" in browser["page"].stdout


def test_page_shows_overview_cards(browser):
    assert browser["page"].stdout.count('class="card" data-metric=') == 6


def test_anonymous_sees_no_metrics(browser):
    assert "Metrics overview" not in browser["anonymous"].stdout


@pytest.mark.parametrize("file_name", ["metrics-page.png", "board-report.png"])
def test_screenshot_kept(browser, file_name):
    content = (ARTIFACTS / file_name).read_bytes()
    assert content.startswith(PNG_SIGNATURE)
    assert len(content) > 20_000


def test_report_renders_in_browser(browser):
    assert ">Headline figures</h2>" in browser["report"].stdout
    assert browser["report"].stdout.count("data:image/svg+xml;base64,") == 6


def test_airflow_ui_embeds_page(browser):
    assert re.search(r'<iframe[^>]+src="[^"]*/saas-metrics/"', browser["ui"].stdout) is not None
