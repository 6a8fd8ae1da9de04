"""The board report as a PDF: A4 landscape pages drawn with matplotlib and written with PdfPages.

Every page carries the report month, the finance validation stamp and a footer with the time
the data runs to. Chart pages print each chart's definition, the date its data runs to and
its source table under the chart.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable
from pathlib import Path

from saas_metrics.reports import charts, formatting
from saas_metrics.reports.content import ChartSpec, Headline, build_charts, build_headlines
from saas_metrics.reports.data import BoardReportData
from saas_metrics.reports.validation import HELD, VALIDATED, FinanceValidation

PAGE_SIZE = (11.69, 8.27)
STAMP_COLORS = {VALIDATED: ("#e6f4ea", "#1e6b35"), HELD: ("#fdecea", "#a12a1f")}
NOT_VALIDATED_COLORS = ("#eef0f3", "#4a5562")
PAGE_TITLES = (
    "Headline figures",
    "MRR trend and movements",
    "Net and gross dollar retention",
    "Churn",
    "Cohort retention",
    "Segments",
    "Unit economics",
    "Definitions and sources",
)


def write_pdf(
    path: Path, data: BoardReportData, validation: FinanceValidation, *, generated_at: dt.datetime
) -> int:
    """Write the report to `path` and return the number of pages."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages

    metadata = {
        "Title": f"Board report {data.month:%Y-%m}",
        "Subject": validation.stamp,
        "Keywords": f"finance-validation={validation.status}",
        "Creator": "saas_metrics.reports",
        "CreationDate": generated_at,
    }
    pages = 0
    with rc_context(charts.RC_PARAMS), PdfPages(path, metadata=metadata) as pdf:
        for figure in build_pages(data, validation, generated_at=generated_at):
            pdf.savefig(figure)
            pages += 1
    return pages


def build_pages(data: BoardReportData, validation: FinanceValidation, *, generated_at: dt.datetime):
    """Yield the report's pages as matplotlib figures, in order; call it inside charts.RC_PARAMS."""
    headlines = build_headlines(data)
    specs = build_charts(data)
    pages: list[Callable] = [
        lambda figure: _headline_page(figure, data, headlines),
        lambda figure: _mrr_page(figure, data, specs),
        lambda figure: _single_chart_page(figure, data, specs["retention"], charts.draw_retention),
        lambda figure: _single_chart_page(figure, data, specs["churn"], charts.draw_churn),
        lambda figure: _single_chart_page(figure, data, specs["cohorts"], charts.draw_cohort_heatmap),
        lambda figure: _segment_page(figure, data, specs["segments"]),
        lambda figure: _unit_economics_page(figure, headlines),
        lambda figure: _sources_page(figure, data, headlines, specs, validation),
    ]
    for number, (title, draw) in enumerate(zip(PAGE_TITLES, pages, strict=True), start=1):
        figure = _new_page(data, validation, title, number, len(pages), generated_at)
        draw(figure)
        _disable_ligatures(figure)
        yield figure


def _disable_ligatures(figure) -> None:
    """Keep "fi" and "fl" as two letters, so that the PDF's text can be searched and copied."""
    from matplotlib.text import Text

    for text in figure.findobj(Text):
        text.set_fontfeatures(("-liga", "-clig", "-dlig"))


def _text_lines(figure, x: float, y: float, lines: list[str], *, fontsize: float, linespacing: float = 1.4,
                va: str = "top", **style) -> None:
    """Draw `lines` from `y` down (va="top") or up to `y` (va="bottom"), one Text per line.

    Matplotlib 3.11 drops font features such as "-liga" on multi-line Text objects, so each
    line is its own Text.
    """
    step = fontsize * linespacing / 72 / figure.get_figheight()
    if va == "bottom":
        y += step * (len(lines) - 1)
    for index, line in enumerate(lines):
        figure.text(x, y - index * step, line, fontsize=fontsize, va=va, **style)


def _new_page(data, validation, title, number, total, generated_at):
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    figure = Figure(figsize=PAGE_SIZE)
    figure.text(0.04, 0.945, f"Board report · {data.label}", fontsize=17, fontweight="bold", color=charts.INK)
    figure.text(0.04, 0.905, title, fontsize=12, color=charts.MUTED)

    background, ink = STAMP_COLORS.get(validation.status, NOT_VALIDATED_COLORS)
    stamp = textwrap.wrap(validation.stamp, 58)
    height = 0.028 + 0.022 * len(stamp)
    figure.patches.append(
        FancyBboxPatch(
            (0.56, 0.975 - height),
            0.40,
            height,
            boxstyle="round,pad=0.004,rounding_size=0.01",
            transform=figure.transFigure,
            facecolor=background,
            edgecolor=ink,
            linewidth=0.8,
        )
    )
    _text_lines(figure, 0.575, 0.975 - 0.014, stamp, fontsize=9, color=ink, fontweight="bold")

    footer = (
        f"board-report-{data.month:%Y-%m} · {data.currency} · monthly figures through "
        f"{formatting.long_date(data.month_end)} · tables computed as of "
        f"{data.current.as_of:%Y-%m-%d %H:%M} UTC · generated {generated_at:%Y-%m-%d %H:%M} UTC"
    )
    figure.text(0.04, 0.025, footer, fontsize=7, color=charts.MUTED)
    figure.text(0.96, 0.025, f"Page {number} of {total}", fontsize=7, color=charts.MUTED, ha="right")
    return figure


def _caption(figure, specs: list[ChartSpec], *, top: float = 0.135) -> None:
    lines = []
    for spec in specs:
        lines.extend(textwrap.wrap(f"{spec.title}: {spec.caption}", 175))
    _text_lines(figure, 0.04, top, lines, fontsize=7.5, color=charts.MUTED, linespacing=1.5)


def _headline_page(figure, data: BoardReportData, headlines: list[Headline]) -> None:
    columns = 4
    width, height = 0.2225, 0.158
    left, top, gap = 0.04, 0.855, 0.0075
    for index, headline in enumerate(headlines):
        row, column = divmod(index, columns)
        x = left + column * (width + gap)
        y = top - (row + 1) * height - row * gap
        _card(figure, headline, x, y, width, height)

    month = data.current
    movements = [
        ("New", month.new_mrr),
        ("Expansion", month.expansion_mrr),
        ("Reactivation", month.reactivation_mrr),
        ("Contraction", -month.contraction_mrr),
        ("Churn", -month.churned_mrr),
    ]
    text = "  ·  ".join(
        f"{label} {'+' if amount >= 0 else ''}{formatting.money(amount, data.currency)}" for label, amount in movements
    )
    figure.text(0.04, 0.085, f"MRR movements in {data.label}:  {text}", fontsize=9, color=charts.INK)
    figure.text(
        0.04,
        0.062,
        "Definitions and source columns of every figure are on the last page.",
        fontsize=7.5,
        color=charts.MUTED,
    )


def _card(figure, headline: Headline, x: float, y: float, width: float, height: float) -> None:
    from matplotlib.patches import FancyBboxPatch

    figure.patches.append(
        FancyBboxPatch(
            (x, y),
            width,
            height,
            boxstyle="round,pad=0,rounding_size=0.008",
            transform=figure.transFigure,
            facecolor="#f7f9fb",
            edgecolor="#dde3e9",
            linewidth=0.8,
        )
    )
    pad = 0.012
    figure.text(x + pad, y + height - 0.025, headline.label, fontsize=8.5, color=charts.MUTED)
    if headline.is_available:
        figure.text(x + pad, y + height - 0.068, headline.value, fontsize=17, fontweight="bold", color=charts.INK)
        if headline.change:
            figure.text(x + pad, y + height - 0.092, headline.change, fontsize=7.5, color=charts.INK)
        note = headline.definition
    else:
        figure.text(x + pad, y + height - 0.064, "Unavailable", fontsize=13, fontweight="bold", color=charts.MUTED)
        note = headline.unavailable_reason.removeprefix("Unavailable: ").capitalize()
    _text_lines(figure, x + pad, y + 0.01, textwrap.wrap(note, 52), fontsize=6.3, color=charts.MUTED,
                va="bottom", linespacing=1.3)


def _mrr_page(figure, data: BoardReportData, specs: dict[str, ChartSpec]) -> None:
    grid = figure.add_gridspec(
        1, 2, left=0.07, right=0.97, top=0.83, bottom=0.25, width_ratios=[1.4, 1], wspace=0.16
    )
    charts.draw_mrr_trend(figure.add_subplot(grid[0, 0]), data)
    charts.draw_waterfall(figure.add_subplot(grid[0, 1]), data)
    _caption(figure, [specs["mrr_trend"], specs["waterfall"]])


def _single_chart_page(figure, data: BoardReportData, spec: ChartSpec, draw) -> None:
    ax = figure.add_axes((0.17 if spec.key == "cohorts" else 0.07, 0.23, 0.78, 0.6))
    draw(ax, data)
    _caption(figure, [spec])


def _segment_page(figure, data: BoardReportData, spec: ChartSpec) -> None:
    table_ax = figure.add_axes((0.04, 0.3, 0.58, 0.52))
    table_ax.set_axis_off()
    header = ["Segment", "Accounts", "MRR", "Average\nMRR", "Churn\nrate", "Daily active\nusers per\naccount",
              "Features\nadopted"]
    rows = [
        [
            segment.segment_name,
            formatting.count(segment.paying_accounts),
            formatting.money(segment.mrr, data.currency),
            formatting.money(segment.average_mrr, data.currency),
            formatting.percent(segment.churn_rate, decimals=2),
            "n/a" if segment.average_daily_active_users is None else f"{segment.average_daily_active_users:.2f}",
            "n/a" if segment.average_features_adopted is None else f"{segment.average_features_adopted:.1f}",
        ]
        for segment in data.segments
    ]
    if rows:
        table = table_ax.table(
            cellText=rows,
            colLabels=header,
            loc="upper left",
            cellLoc="right",
            colWidths=[0.2, 0.12, 0.15, 0.14, 0.12, 0.15, 0.12],
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 2.0)
        for (row, column), cell in table.get_celld().items():
            cell.set_edgecolor("#dde3e9")
            if row == 0:
                cell.set_facecolor("#eef2f6")
                cell.set_text_props(fontweight="bold", color=charts.INK)
                cell.set_height(cell.get_height() * 1.9)
            if column == 0:
                cell.set_text_props(ha="left")
    else:
        table_ax.text(0, 0.9, "analytics.segment_metrics has no row for the month.", color=charts.MUTED)
    table_ax.set_title("Paying accounts by segment")
    charts.draw_segment_mrr(figure.add_axes((0.74, 0.3, 0.22, 0.5)), data)
    _caption(figure, [spec])


def _unit_economics_page(figure, headlines: list[Headline]) -> None:
    keys = ("arpa", "infrastructure_per_user", "cost_per_customer", "infrastructure_share", "cac", "ltv")
    selected = [headline for headline in headlines if headline.key in keys]
    y = 0.82
    for headline in selected:
        value = headline.value if headline.is_available else "Unavailable"
        figure.text(0.04, y, headline.label, fontsize=11, fontweight="bold", color=charts.INK, va="top")
        figure.text(0.36, y, value, fontsize=11, fontweight="bold", va="top",
                    color=charts.INK if headline.is_available else charts.MUTED)
        detail = headline.definition if headline.is_available else headline.unavailable_reason
        through = f" Data through {formatting.long_date(headline.data_through)}." if headline.data_through else ""
        _text_lines(figure, 0.52, y, textwrap.wrap(f"{detail}{through} Source: {headline.source}.", 85),
                    fontsize=8, color=charts.MUTED)
        y -= 0.11
    figure.text(
        0.04,
        0.1,
        "A figure whose inputs the warehouse does not hold is shown as unavailable, never as 0.",
        fontsize=8,
        color=charts.MUTED,
    )


def _sources_page(
    figure, data: BoardReportData, headlines: list[Headline], specs: dict[str, ChartSpec], validation
) -> None:
    lines = []
    for headline in headlines:
        through = formatting.long_date(headline.data_through) if headline.data_through else "n/a"
        lines.append((headline.label, headline.source, through))
    for spec in specs.values():
        lines.append((spec.title, spec.source, formatting.long_date(spec.data_through)))
    y = 0.85
    figure.text(0.04, y, "Figure", fontsize=8, fontweight="bold", color=charts.INK)
    figure.text(0.32, y, "Source (table and columns)", fontsize=8, fontweight="bold", color=charts.INK)
    figure.text(0.84, y, "Data through", fontsize=8, fontweight="bold", color=charts.INK)
    y -= 0.03
    for label, source, through in lines:
        figure.text(0.04, y, label, fontsize=7.5, color=charts.INK)
        figure.text(0.32, y, textwrap.shorten(source, 110), fontsize=7.5, color=charts.MUTED)
        figure.text(0.84, y, through, fontsize=7.5, color=charts.MUTED)
        y -= 0.0285
    details = [
        f"Finance validation: {validation.stamp} (source: {validation.source}).",
        f"All monthly tables: reporting currency basis ({data.currency}); {data.label} is closed "
        f"(snapshot {data.current.snapshot_at:%Y-%m-%d %H:%M %Z}).",
        "Metric definitions: docs/metrics.md. Unit economics and this report: docs/board-report.md.",
    ]
    _text_lines(figure, 0.04, 0.065, details, fontsize=7.5, color=charts.MUTED, linespacing=1.5, va="bottom")
