"""The board report built from the demo warehouse: PDF pages and figures, HTML sections, storage rules."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from helpers.demo_warehouse import REPORT_MONTH, cloned_demo
from helpers.pdf_text import read_pdf
from saas_metrics.reports import BoardReportError, build_board_report
from saas_metrics.reports.board import read_manifest
from saas_metrics.reports.pdf import PAGE_TITLES
from saas_metrics.reports.validation import HELD, NOT_VALIDATED, VALIDATED, FinanceValidation, from_difference

GENERATED_AT = dt.datetime(2026, 6, 16, 9, 30, tzinfo=dt.UTC)
VALIDATED_STAMP = from_difference("0.0012", tolerance="0.005", source="analytics.arr_reconciliation")
HELD_STAMP = from_difference("0.031", tolerance="0.005", source="analytics.arr_reconciliation")
UNVALIDATED_STAMP = FinanceValidation(status=NOT_VALIDATED, detail="finance has not reported ARR for 2026-05")
HTML_SECTIONS = {
    "headlines": "Headline figures",
    "mrr": "MRR trend and movements",
    "retention": "Net and gross dollar retention",
    "churn": "Churn",
    "cohorts": "Cohort retention",
    "segments": "Segments",
    "unit-economics": "Unit economics",
    "sources": "Definitions and sources",
}


def _build(demo_db, output_dir, validation=VALIDATED_STAMP, month=REPORT_MONTH):
    with demo_db.connect() as conn:
        return build_board_report(conn, month, output_dir, validation, generated_at=GENERATED_AT)


@pytest.fixture(scope="module")
def report(pg_server, demo_template, tmp_path_factory):
    """A validated report for 2026-05, copied to test-artifacts/board-report-sample/ for inspection."""
    with cloned_demo(pg_server, demo_template) as database:
        result = _build(database, tmp_path_factory.mktemp("board_reports"))
        with database.connect() as conn:
            mrr, arr, paying = conn.execute(
                "select mrr, arr, paying_customers from analytics.mrr_monthly "
                "where currency_basis = 'reporting' and month_start = %s",
                (REPORT_MONTH,),
            ).fetchone()
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts" / "board-report-sample"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    shutil.copy(result.pdf_path, artifacts)
    shutil.copy(result.html_path, artifacts)
    return {"result": result, "mrr": mrr, "arr": arr, "paying": paying}


def _money(value: Decimal) -> str:
    return f"${value:,.0f}"


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_has_expected_pages(report):
    document = read_pdf(report["result"].pdf_path)
    assert len(document.pages) == len(PAGE_TITLES)
    assert report["result"].pages == len(PAGE_TITLES)


def test_pdf_pages_in_order(report):
    document = read_pdf(report["result"].pdf_path)
    for number, (page, title) in enumerate(zip(document.pages, PAGE_TITLES, strict=True), start=1):
        assert title in page.text, f"page {number}"
        assert f"Page {number} of {len(PAGE_TITLES)}" in page.text, f"page {number}"


def test_pdf_every_page_stamped(report):
    for number, page in enumerate(read_pdf(report["result"].pdf_path).pages, start=1):
        assert "Validated by finance: ARR within 0.12 %" in page.text, f"page {number}"


def test_pdf_metadata_has_validation(report):
    info = read_pdf(report["result"].pdf_path).info
    assert b"finance-validation=validated" in info
    assert b"Board report 2026-05" in info


def test_pdf_headlines_match_tables(report):
    text = read_pdf(report["result"].pdf_path).pages[0].text
    assert _money(report["mrr"]) in text
    assert _money(report["arr"]) in text
    assert f"{report['paying']:,}" in text


def test_pdf_chart_titles(report):
    pages = read_pdf(report["result"].pdf_path).pages
    assert "MRR by month" in pages[1].text
    assert "MRR movements, May 2026" in pages[1].text
    assert "Trailing-12-month NDR and GDR" in pages[2].text
    assert "Monthly churn rates" in pages[3].text
    assert "Revenue retention (%) by cohort and age" in pages[4].text
    assert "Share of MRR by segment" in pages[5].text


def test_pdf_charts_are_drawn(report):
    pages = read_pdf(report["result"].pdf_path).pages
    for number in (1, 2, 3, 5):
        assert pages[number].path_operators > 50, f"page {number + 1}"


def test_pdf_cohort_heatmap_is_image(report):
    # The heatmap and its color bar are each drawn as an image.
    assert read_pdf(report["result"].pdf_path).pages[4].image_draws == 2


def test_pdf_figures_state_definition_and_date(report):
    pages = read_pdf(report["result"].pdf_path).pages
    for number in range(1, 6):
        assert "Data through 31 May 2026" in pages[number].text.replace("\n", " "), f"page {number + 1}"
        assert "Source: analytics." in pages[number].text.replace("\n", " "), f"page {number + 1}"
    assert "MRR at the end of M of the customers paying at the end of M" in pages[2].text.replace("\n", " ")


def test_pdf_marks_cac_unavailable(report):
    text = read_pdf(report["result"].pdf_path).pages[6].text
    assert "CAC" in text
    assert "needs sales and marketing spend" in text


def test_pdf_segments_listed(report):
    text = read_pdf(report["result"].pdf_path).pages[5].text
    for segment in ("Enterprise", "Mid-Market", "SMB", "Self-Serve"):
        assert segment in text


# --- HTML -------------------------------------------------------------------------------------


def _html(report) -> str:
    return report["result"].html_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("section_id", sorted(HTML_SECTIONS))
def test_html_has_section(report, section_id):
    html = _html(report)
    match = re.search(rf'<section id="{section_id}">\s*<h2>([^<]+)</h2>', html)
    assert match is not None
    assert match.group(1) == HTML_SECTIONS[section_id]


def test_html_is_self_contained(report):
    html = _html(report)
    assert re.search(r'(src|href)="(https?:)?//', html) is None
    assert "<link" not in html
    assert "<script" not in html
    assert "url(" not in html


def test_html_charts_inline_svg(report):
    sources = re.findall(r'<img src="([^"]{0,40})', _html(report))
    assert len(sources) == 6
    assert all(source.startswith("data:image/svg+xml;base64,") for source in sources)


def test_html_stamped_with_validation(report):
    html = _html(report)
    assert '<meta name="finance-validation" content="validated">' in html
    assert "Validated by finance: ARR within 0.12 % of finance&#39;s ARR (tolerance 0.50 %)" in html


def test_html_headline_values(report):
    html = _html(report)
    assert f'<div class="value">{_money(report["mrr"])}</div>' in html
    assert f'<div class="value">{_money(report["arr"])}</div>' in html


def test_html_figures_have_definition_and_date(report):
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", _html(report), re.S)
    assert len(captions) == 6
    for caption in captions:
        assert "Data through 31 May 2026." in caption
        assert "Source: analytics." in caption


def test_html_cac_ltv_unavailable_not_zero(report):
    html = _html(report)
    for key in ("cac", "ltv"):
        card = re.search(rf'<div class="card unavailable" data-figure="{key}">(.*?)</div>\s*</div>', html, re.S)
        assert card is not None, key
        assert "Unavailable" in card.group(1), key
        assert "$0" not in card.group(1), key


# --- storage ----------------------------------------------------------------------------------


def test_files_named_by_month(report):
    result = report["result"]
    assert result.pdf_path.name == "board-report-2026-05.pdf"
    assert result.html_path.name == "board-report-2026-05.html"
    assert result.manifest_path.name == "board-report-2026-05.json"


def test_manifest_records_validation(report):
    manifest = read_manifest(report["result"].manifest_path)
    assert manifest["validation"]["status"] == VALIDATED
    assert manifest["month"] == "2026-05"
    assert manifest["data_through"] == "2026-05-31"


def test_validated_not_overwritten_by_unvalidated(demo_db, tmp_path):
    folder = tmp_path / "board_reports"
    first = _build(demo_db, folder, VALIDATED_STAMP)
    html_before = first.html_path.read_bytes()
    pdf_before = first.pdf_path.read_bytes()
    second = _build(demo_db, folder, UNVALIDATED_STAMP)
    assert second.is_written is False
    assert "kept" in second.kept_reason
    assert first.html_path.read_bytes() == html_before
    assert first.pdf_path.read_bytes() == pdf_before
    assert read_manifest(first.manifest_path)["validation"]["status"] == VALIDATED


def test_validated_not_overwritten_by_held(demo_db, tmp_path):
    folder = tmp_path / "board_reports"
    _build(demo_db, folder, VALIDATED_STAMP)
    held = _build(demo_db, folder, HELD_STAMP)
    assert held.is_written is False
    assert read_manifest(held.manifest_path)["validation"]["status"] == VALIDATED


def test_validated_html_alone_is_kept(demo_db, tmp_path):
    folder = tmp_path / "board_reports"
    first = _build(demo_db, folder, VALIDATED_STAMP)
    first.manifest_path.unlink()
    second = _build(demo_db, folder, UNVALIDATED_STAMP)
    assert second.is_written is False


def test_unvalidated_replaced_by_validated(demo_db, tmp_path):
    folder = tmp_path / "board_reports"
    _build(demo_db, folder, HELD_STAMP)
    second = _build(demo_db, folder, VALIDATED_STAMP)
    assert second.is_written is True
    assert read_manifest(second.manifest_path)["validation"]["status"] == VALIDATED


def test_held_report_stamped_held(demo_db, tmp_path):
    result = _build(demo_db, tmp_path, HELD_STAMP)
    html = result.html_path.read_text(encoding="utf-8")
    assert f'<meta name="finance-validation" content="{HELD}">' in html
    assert "Held by finance: ARR differs from finance" in html


def test_default_folder_follows_environment(demo_db, tmp_path, monkeypatch):
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path / "output"))
    result = _build(demo_db, None)
    assert result.pdf_path.parent == tmp_path / "output" / "board_reports"


def test_no_temporary_files_left(report):
    names = sorted(path.name for path in report["result"].pdf_path.parent.iterdir())
    assert [name for name in names if ".tmp" in name] == []


# --- months that cannot be reported ----------------------------------------------------------


def test_open_month_rejected(demo_db, tmp_path):
    with pytest.raises(BoardReportError, match="still open"):
        _build(demo_db, tmp_path, month=dt.date(2026, 6, 1))


def test_missing_month_rejected(demo_db, tmp_path):
    with pytest.raises(BoardReportError, match="latest closed month is 2026-05"):
        _build(demo_db, tmp_path, month=dt.date(2026, 9, 1))
