"""The SaaS metrics page: latest board report, metrics overview and quality-gate results.

Mounted by plugins/saas_metrics_plugin.py on the Airflow API server under URL_PREFIX. Every
route requires an authenticated Airflow user (saas_metrics.ui.auth). Without one, the JSON
and file endpoints return 401 and the page redirects to Airflow's login page. Data is read
from the analytics tables through the Airflow connection `warehouse` on each request, and
reports from the board report folder (OUTPUT_DIR/board_reports), which must be on a disk the
API server can read.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from saas_metrics.ui.auth import LoginRequired, authenticate, login_url, require_user

log = logging.getLogger(__name__)

URL_PREFIX = "/saas-metrics"
TEMPLATE_DIR = Path(__file__).parent / "templates"
REPORT_FILE = re.compile(r"^board-report-\d{4}-\d{2}\.(pdf|html)$")


def _reports_dir(reports_dir: Path | None) -> Path:
    from saas_metrics.reports.board import default_output_dir

    return reports_dir if reports_dir is not None else default_output_dir()


def _read_warehouse(conn_id: str, read) -> dict[str, Any]:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    with PostgresHook(postgres_conn_id=conn_id).get_conn() as conn:
        return read(conn)


def load_overview(conn_id: str) -> dict[str, Any]:
    from saas_metrics.ui.queries import metrics_overview

    return _read_warehouse(conn_id, metrics_overview)


def load_quality(conn_id: str) -> dict[str, Any]:
    from saas_metrics.ui.queries import quality_gate

    return _read_warehouse(conn_id, quality_gate)


def load_reports(reports_dir: Path) -> dict[str, Any]:
    from saas_metrics.reports.board import list_reports

    reports = list_reports(reports_dir)
    return {"folder": str(reports_dir), "latest": reports[0] if reports else None, "reports": reports}


def _section(name: str, load, *args) -> dict[str, Any]:
    """Load one section of the page; a failure becomes an error shown in that section only."""
    try:
        return load(*args)
    except Exception as error:
        log.exception("SaaS metrics page: loading the %s section failed", name)
        return {"available": False, "error": f"{type(error).__name__}: {error}"}


def render_page(conn_id: str, reports_dir: Path, user_name: str) -> str:
    import jinja2

    from saas_metrics.reports import formatting
    from saas_metrics.ui.sparklines import sparkline

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("metrics.html.j2").render(
        overview=_section("overview", load_overview, conn_id),
        quality=_section("quality gate", load_quality, conn_id),
        reports=_section("board report", load_reports, reports_dir),
        user_name=user_name,
        fmt=formatting,
        sparkline=sparkline,
    )


def create_app(*, conn_id: str = "warehouse", reports_dir: Path | None = None) -> FastAPI:
    """Create the app; `reports_dir` defaults to OUTPUT_DIR/board_reports, read on each request."""
    app = FastAPI(
        title="SaaS metrics",
        description="Latest board report, metrics overview and quality-gate results.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def metrics_page(request: Request):
        try:
            user = await authenticate(request)
        except LoginRequired:
            return RedirectResponse(login_url(request), status_code=status.HTTP_303_SEE_OTHER)
        name = getattr(user, "get_name", lambda: str(user))()
        html = await run_in_threadpool(render_page, conn_id, _reports_dir(reports_dir), name)
        return HTMLResponse(html)

    @app.get("/api/overview", dependencies=[Depends(require_user)])
    def overview() -> dict[str, Any]:
        return load_overview(conn_id)

    @app.get("/api/quality", dependencies=[Depends(require_user)])
    def quality() -> dict[str, Any]:
        return load_quality(conn_id)

    @app.get("/api/reports", dependencies=[Depends(require_user)])
    def reports() -> dict[str, Any]:
        return load_reports(_reports_dir(reports_dir))

    @app.get("/reports/{file_name}", dependencies=[Depends(require_user)])
    def report_file(file_name: str):
        if not REPORT_FILE.match(file_name):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{file_name!r} is not a board report file name")
        path = _reports_dir(reports_dir) / file_name
        if not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"Board report {file_name} not found")
        media_type = "application/pdf" if file_name.endswith(".pdf") else "text/html"
        return FileResponse(path, media_type=media_type, filename=file_name, content_disposition_type="inline")

    return app
