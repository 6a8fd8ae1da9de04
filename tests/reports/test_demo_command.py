"""The demo command's board report step on the demo warehouse, whose daily run built
analytics.arr_reconciliation."""

from __future__ import annotations

import pytest

from saas_metrics.cli import board_report_step, build_latest_board_report


@pytest.fixture
def output_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path))
    return tmp_path


def _set_difference(demo_db, ratio) -> None:
    with demo_db.connect() as conn:
        conn.execute(
            "update analytics.arr_reconciliation set has_finance_report = true, difference_ratio = %s "
            "where month_start = '2026-05-01'",
            (ratio,),
        )
        conn.commit()


def test_demo_builds_latest_closed_month(demo_db, output_dir):
    result = build_latest_board_report()
    assert result.month.isoformat() == "2026-05-01"
    assert result.pdf_path == output_dir / "board_reports" / "board-report-2026-05.pdf"
    assert result.html_path.is_file()


def test_demo_validated_within_tolerance(demo_db, output_dir):
    _set_difference(demo_db, "0.001")
    assert build_latest_board_report().validation.status == "validated"


def test_demo_held_beyond_tolerance(demo_db, output_dir):
    _set_difference(demo_db, "-0.03")
    assert build_latest_board_report().validation.status == "held"


def test_demo_without_reconciliation_not_validated(demo_db, output_dir):
    with demo_db.connect() as conn:
        conn.execute("drop table analytics.arr_reconciliation")
        conn.commit()
    result = build_latest_board_report()
    assert result.validation.status == "not_validated"
    assert result.validation.detail == "analytics.arr_reconciliation does not exist"


def test_demo_prints_report_paths(demo_db, output_dir, capsys):
    _set_difference(demo_db, "0.001")
    assert board_report_step() == 0
    output = capsys.readouterr().out
    assert f"PDF:  {output_dir / 'board_reports' / 'board-report-2026-05.pdf'}" in output
    assert f"HTML: {output_dir / 'board_reports' / 'board-report-2026-05.html'}" in output
    assert "Validated by finance: ARR within 0.10 %" in output
