"""The monthly board report: PDF and HTML built from the analytics tables of a closed month.

    from saas_metrics.reports import build_board_report
    result = build_board_report(conn, date(2026, 5, 1), validation=stamp)

docs/board-report.md describes the pages, the validation stamp and where the files go.
"""

from saas_metrics.reports.board import BoardReportResult, build_board_report, list_reports
from saas_metrics.reports.data import BoardReportError, latest_closed_month
from saas_metrics.reports.validation import FinanceValidation

__all__ = [
    "BoardReportError",
    "BoardReportResult",
    "FinanceValidation",
    "build_board_report",
    "latest_closed_month",
    "list_reports",
]
