"""The demo command's board report step on the demo warehouse."""

from __future__ import annotations

from saas_metrics.cli import board_report_step, build_latest_board_report


def test_demo_builds_latest_closed_month(demo_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path))
    result = build_latest_board_report()
    assert result.month.isoformat() == "2026-05-01"
    assert result.pdf_path == tmp_path / "board_reports" / "board-report-2026-05.pdf"
    assert result.html_path.is_file()


def test_demo_without_reconciliation_not_validated(demo_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path))
    result = build_latest_board_report()
    assert result.validation.status == "not_validated"
    assert result.validation.detail == "analytics.arr_reconciliation does not exist"


def test_demo_reads_reconciliation(demo_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path))
    with demo_db.connect() as conn:
        conn.execute(
            "create table analytics.arr_reconciliation as select '2026-05-01'::date as month_start, "
            "true as has_finance_report, 0.001::numeric as difference_ratio, now() as finance_reported_at"
        )
        conn.commit()
    assert build_latest_board_report().validation.status == "validated"


def test_demo_prints_report_paths(demo_db, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path))
    assert board_report_step() == 0
    output = capsys.readouterr().out
    assert f"PDF:  {tmp_path / 'board_reports' / 'board-report-2026-05.pdf'}" in output
    assert f"HTML: {tmp_path / 'board_reports' / 'board-report-2026-05.html'}" in output
    assert "Not validated by finance" in output
