"""Build the board report of a closed month and store it: PDF, HTML and a JSON manifest.

Files are named by month (board-report-YYYY-MM.pdf/.html/.json) in OUTPUT_DIR/board_reports
unless the caller gives another folder. The manifest records the finance validation stamp the
report was built with. A report that finance validated is never replaced by one that is not
validated or held. The new one is then not written, and the result gives the reason. Each file is written
to a temporary name and renamed, and the manifest last, so a reader never sees half a report.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from saas_metrics import paths
from saas_metrics.reports.data import BoardReportData, load_board_report_data
from saas_metrics.reports.validation import FinanceValidation

log = logging.getLogger(__name__)

REPORT_FOLDER_NAME = "board_reports"
FILE_PREFIX = "board-report-"
MANIFEST_NAME = re.compile(r"^board-report-(\d{4})-(\d{2})\.json$")


def default_output_dir() -> Path:
    """Return OUTPUT_DIR/board_reports, reading SAAS_METRICS_OUTPUT_DIR at call time."""
    output_dir = os.environ.get("SAAS_METRICS_OUTPUT_DIR")
    return (Path(output_dir) if output_dir else paths.OUTPUT_DIR) / REPORT_FOLDER_NAME


@dataclass(frozen=True)
class BoardReportResult:
    """Paths of a month's report and whether this call wrote it; `kept_reason` explains a report not written."""

    month: dt.date
    pdf_path: Path
    html_path: Path
    manifest_path: Path
    validation: FinanceValidation
    is_written: bool
    pages: int | None = None
    kept_reason: str | None = None

    def as_dict(self) -> dict:
        return {
            "month": self.month.isoformat(),
            "pdf": str(self.pdf_path),
            "html": str(self.html_path),
            "manifest": str(self.manifest_path),
            "validation": self.validation.as_dict(),
            "is_written": self.is_written,
            "pages": self.pages,
            "kept_reason": self.kept_reason,
        }


def report_paths(output_dir: Path, month: dt.date) -> tuple[Path, Path, Path]:
    """Return the PDF, HTML and manifest paths of `month` in `output_dir`."""
    stem = f"{FILE_PREFIX}{month:%Y-%m}"
    return output_dir / f"{stem}.pdf", output_dir / f"{stem}.html", output_dir / f"{stem}.json"


def read_manifest(path: Path) -> dict | None:
    """Return a report's manifest, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("Could not read the board report manifest %s: %s", path, error)
        return None


def _existing_status(manifest_path: Path, html_path: Path) -> str | None:
    """Return the validation status of the stored report, from its manifest or its HTML meta tag."""
    manifest = read_manifest(manifest_path)
    if manifest is not None:
        return manifest.get("validation", {}).get("status")
    if html_path.exists():
        match = re.search(
            r'<meta name="finance-validation" content="([a-z_]+)">', html_path.read_text(encoding="utf-8")
        )
        return match.group(1) if match else None
    return None


@contextmanager
def _month_lock(output_dir: Path, month: dt.date):
    """Hold an exclusive lock on the month's reports, so that two builds cannot interleave."""
    lock_path = output_dir / f".{FILE_PREFIX}{month:%Y-%m}.lock"
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replace_atomically(path: Path, write) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def build_board_report(
    conn,
    month: dt.date,
    output_dir: Path | str | None = None,
    validation: FinanceValidation | None = None,
    *,
    segment_thresholds: tuple[tuple[str, float], ...] | None = None,
    generated_at: dt.datetime | None = None,
) -> BoardReportResult:
    """Build the board report of `month` from the analytics tables and store it in `output_dir`.

    :param conn: An open psycopg connection to the warehouse.
    :param month: Any day of the report month, which must be closed in analytics.mrr_monthly.
    :param output_dir: Folder of the reports; default OUTPUT_DIR/board_reports (the environment
        variable SAAS_METRICS_OUTPUT_DIR moves OUTPUT_DIR).
    :param validation: Finance's stamp for the month; None stamps the report as not validated.
    :param segment_thresholds: (name, minimum MRR) per segment; default include/config/metrics.yml.
    :param generated_at: Time printed on the report; default now (UTC).
    :raises BoardReportError: the month is missing or still open.
    """
    from saas_metrics.reports.html import write_html
    from saas_metrics.reports.pdf import write_pdf
    from saas_metrics.reports.validation import not_validated

    month = month.replace(day=1)
    output_dir = Path(output_dir) if output_dir is not None else default_output_dir()
    validation = validation or not_validated("no validation stamp was given", source="argument")
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    if segment_thresholds is None:
        from saas_metrics.config import load_metrics_config

        segment_thresholds = tuple((segment.name, segment.min_mrr) for segment in load_metrics_config().segments)

    data = load_board_report_data(conn, month, segment_thresholds=segment_thresholds)
    output_dir.mkdir(parents=True, exist_ok=True)
    pdf_path, html_path, manifest_path = report_paths(output_dir, month)

    with _month_lock(output_dir, month):
        existing = _existing_status(manifest_path, html_path)
        if existing == "validated" and not validation.is_validated:
            reason = (
                f"{html_path.name} is validated by finance and the new build is not ({validation.stamp}); "
                "the validated report was kept. Delete its files to replace it anyway."
            )
            log.warning("Board report %s not written: %s", f"{month:%Y-%m}", reason)
            return BoardReportResult(
                month, pdf_path, html_path, manifest_path, validation, is_written=False, kept_reason=reason
            )

        pages = 0

        def write_pdf_file(path):
            nonlocal pages
            pages = write_pdf(path, data, validation, generated_at=generated_at)

        _replace_atomically(pdf_path, write_pdf_file)
        _replace_atomically(html_path, lambda path: write_html(path, data, validation, generated_at=generated_at))
        manifest = _manifest(data, validation, generated_at, pdf_path, html_path, pages)
        _replace_atomically(
            manifest_path, lambda path: path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        )

    log.info(
        "Board report %s written (%d PDF pages, %s): %s, %s",
        f"{month:%Y-%m}",
        pages,
        validation.stamp,
        pdf_path,
        html_path,
    )
    return BoardReportResult(month, pdf_path, html_path, manifest_path, validation, is_written=True, pages=pages)


def _manifest(data: BoardReportData, validation, generated_at, pdf_path, html_path, pages) -> dict:
    current = data.current
    return {
        "month": f"{data.month:%Y-%m}",
        "generated_at": generated_at.isoformat(),
        "data_through": data.month_end.isoformat(),
        "tables_as_of": current.as_of.isoformat(),
        "currency": data.currency,
        "validation": validation.as_dict(),
        "files": {"pdf": pdf_path.name, "html": html_path.name},
        "pdf_pages": pages,
        "headline": {
            "mrr": str(current.mrr),
            "arr": str(current.arr),
            "paying_customers": current.paying_customers,
            "ndr_trailing_12m": None if current.ndr_trailing_12m is None else str(current.ndr_trailing_12m),
            "logo_churn_rate": None if current.logo_churn_rate is None else str(current.logo_churn_rate),
        },
    }


def list_reports(output_dir: Path | str | None = None) -> list[dict]:
    """Return the manifests of the stored reports, newest month first."""
    folder = Path(output_dir) if output_dir is not None else default_output_dir()
    if not folder.is_dir():
        return []
    manifests = []
    for path in sorted(folder.iterdir(), reverse=True):
        if MANIFEST_NAME.match(path.name):
            manifest = read_manifest(path)
            if manifest is not None:
                manifests.append(manifest)
    return manifests
