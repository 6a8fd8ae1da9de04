"""Matplotlib drawings of the board report's charts, each into an Axes the caller lays out.

The PDF places several on a page and the HTML page renders each on its own figure, so a
function here only draws. It never creates figures, saves files or touches pyplot's global
state, because the report is built inside Airflow workers, where pyplot's state is shared.
"""

from __future__ import annotations

import math

from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm
from matplotlib.ticker import FuncFormatter, PercentFormatter

from saas_metrics.reports import formatting
from saas_metrics.reports.data import COHORT_AGES, BoardReportData

NAVY = "#1d3557"
STEEL = "#8da9c4"
TEAL = "#2a9d8f"
GAIN = "#2e7d32"
LOSS = "#c0392b"
MUTED = "#6b7785"
GRID = "#e3e7ec"
INK = "#1f2933"

RETENTION_COLORS = LinearSegmentedColormap.from_list(
    "retention", ["#c0392b", "#f4a261", "#f7f3e3", "#8ecae6", "#1d3557"]
)
RC_PARAMS = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": "#c5ccd3",
    "axes.labelcolor": INK,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlecolor": INK,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "svg.fonttype": "path",
    "pdf.fonttype": 3,
}


def style_axes(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)


def _month_ticks(ax, months) -> None:
    positions = list(range(len(months)))
    step = max(1, math.ceil(len(months) / 8))
    # Label every step-th month counted back from the report month, so the last one is labeled.
    labeled = [position for position in positions if (len(months) - 1 - position) % step == 0]
    ax.set_xticks(labeled)
    ax.set_xticklabels([months[position].month_start.strftime("%b %y") for position in labeled])


def draw_mrr_trend(ax, data: BoardReportData) -> None:
    months = data.months
    values = [float(month.mrr) for month in months]
    colors = [STEEL] * (len(values) - 1) + [NAVY]
    ax.bar(range(len(values)), values, color=colors, width=0.72)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: formatting.compact_money(value, data.currency)))
    _month_ticks(ax, months)
    style_axes(ax)
    ax.annotate(
        formatting.money(months[-1].mrr, data.currency),
        xy=(len(values) - 1, values[-1]),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=9,
        fontweight="bold",
        color=NAVY,
    )
    ax.set_ylim(0, max(values) * 1.15 if max(values) > 0 else 1)
    ax.set_title("MRR by month")


def draw_waterfall(ax, data: BoardReportData) -> None:
    month = data.current
    steps = [
        ("Start", float(month.starting_mrr), "total"),
        ("New", float(month.new_mrr), "movement"),
        ("Expansion", float(month.expansion_mrr), "movement"),
        ("Reactivation", float(month.reactivation_mrr), "movement"),
        ("Contraction", -float(month.contraction_mrr), "movement"),
        ("Churn", -float(month.churned_mrr), "movement"),
        ("End", float(month.mrr), "total"),
    ]
    level = 0.0
    levels = []
    for position, (_, amount, kind) in enumerate(steps):
        if kind == "total":
            bottom, height, color = 0.0, amount, NAVY
            level = amount
            text = formatting.money(amount, data.currency)
        else:
            bottom = level if amount >= 0 else level + amount
            height, color = abs(amount), GAIN if amount >= 0 else LOSS
            level += amount
            text = ("+" if amount >= 0 else "") + formatting.money(amount, data.currency)
        levels.append(level)
        ax.bar(position, height, bottom=bottom, color=color, width=0.62)
        ax.annotate(
            text,
            xy=(position, bottom + height),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color=INK,
        )
    ax.set_xticks(range(len(steps)))
    ax.set_xticklabels([label for label, _, _ in steps], rotation=30, ha="right", rotation_mode="anchor")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: formatting.compact_money(value, data.currency)))
    style_axes(ax)

    # Movements are a few percent of MRR, so the axis starts just below the lowest level
    # reached. A note states the start, because bars that do not start at 0 must not look like shares.
    top = max(levels + [float(month.starting_mrr)]) * 1.06
    floor = min(levels + [float(month.starting_mrr)]) * 0.96
    if top <= 0:
        top = 1.0
    if floor > 0:
        ax.set_ylim(floor, top)
        ax.text(
            1.0,
            1.01,
            f"Axis starts at {formatting.compact_money(floor, data.currency)}.",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color=MUTED,
        )
    else:
        ax.set_ylim(min(floor, 0.0), top)
    ax.set_title(f"MRR movements, {month.month_start:%B %Y}")


def _rate_lines(ax, data: BoardReportData, series: list[tuple[str, str, str]], *, decimals: int) -> bool:
    """Draw one line per (attribute, label, color); return False when every value is missing."""
    months = data.months
    drawn = False
    for attribute, label, color in series:
        points = [
            (position, float(getattr(month, attribute)))
            for position, month in enumerate(months)
            if getattr(month, attribute) is not None
        ]
        if not points:
            continue
        drawn = True
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, color=color, linewidth=2, marker="o", markersize=3, label=label)
        ax.annotate(
            formatting.percent(ys[-1], decimals=decimals),
            xy=(xs[-1], ys[-1]),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            fontweight="bold",
            color=color,
        )
    _month_ticks(ax, months)
    ax.set_xlim(-0.5, len(months) - 0.5 + 1.5)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    style_axes(ax)
    return drawn


def _no_data(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color=MUTED, fontsize=10)


def draw_retention(ax, data: BoardReportData) -> None:
    drawn = _rate_lines(
        ax,
        data,
        [("ndr_trailing_12m", "NDR", NAVY), ("gdr_trailing_12m", "GDR", TEAL)],
        decimals=1,
    )
    if drawn:
        ax.axhline(1.0, color=MUTED, linewidth=0.8, linestyle="--")
        ax.legend(loc="lower left", frameon=False, ncol=2)
    else:
        _no_data(ax, "Not available: trailing-12-month retention needs 12 months of history.")
    ax.set_title("Trailing-12-month NDR and GDR")


def draw_churn(ax, data: BoardReportData) -> None:
    drawn = _rate_lines(
        ax,
        data,
        [("logo_churn_rate", "Logo churn", NAVY), ("gross_mrr_churn_rate", "Revenue churn (gross)", LOSS)],
        decimals=2,
    )
    if drawn:
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
        ax.legend(loc="upper left", frameon=False, ncol=2)
    else:
        _no_data(ax, "Not available: no month with paying customers at its start.")
    ax.set_title("Monthly churn rates")


def cohort_matrix(data: BoardReportData) -> tuple[list, list[list[float]]]:
    """Return the cohorts (oldest first) and their revenue retention by age, NaN where not reached."""
    cohorts = sorted({cell.cohort_month for cell in data.cohorts})
    index = {cohort: row for row, cohort in enumerate(cohorts)}
    matrix = [[math.nan] * COHORT_AGES for _ in cohorts]
    for cell in data.cohorts:
        if cell.revenue_retention is not None and cell.months_since_cohort < COHORT_AGES:
            matrix[index[cell.cohort_month]][cell.months_since_cohort] = float(cell.revenue_retention)
    return cohorts, matrix


def draw_cohort_heatmap(ax, data: BoardReportData) -> None:
    cohorts, matrix = cohort_matrix(data)
    if not cohorts:
        _no_data(ax, "Not available: no billing cohort in the last 12 months.")
        ax.set_axis_off()
        return
    values = [value for row in matrix for value in row if not math.isnan(value)]
    low = min(min(values), 0.99)
    high = max(max(values), 1.01)
    image = ax.imshow(
        matrix,
        cmap=RETENTION_COLORS,
        norm=TwoSlopeNorm(vmin=low, vcenter=1.0, vmax=high),
        aspect="auto",
        interpolation="nearest",
    )

    sizes = {cell.cohort_month: cell.cohort_customers for cell in data.cohorts}
    ax.set_yticks(range(len(cohorts)))
    ax.set_yticklabels([f"{cohort:%b %Y}  ({sizes[cohort]:,})" for cohort in cohorts])
    ax.set_xticks(range(COHORT_AGES))
    ax.set_xticklabels([str(age) for age in range(COHORT_AGES)])
    ax.set_xlabel("Months since the cohort's first month")

    for row, cohort_values in enumerate(matrix):
        for column, value in enumerate(cohort_values):
            if math.isnan(value):
                continue
            dark = value < low + (1.0 - low) * 0.25 or value > 1.0 + (high - 1.0) * 0.6
            ax.text(
                column,
                row,
                f"{value * 100:.0f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else INK,
            )

    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    colorbar = ax.figure.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    colorbar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    colorbar.outline.set_visible(False)
    ax.set_title("Revenue retention (%) by cohort and age; cohort size in brackets")


def draw_segment_mrr(ax, data: BoardReportData) -> None:
    segments = [segment for segment in data.segments if segment.paying_accounts > 0]
    if not segments:
        _no_data(ax, "Not available: analytics.segment_metrics has no row for the month.")
        ax.set_axis_off()
        return
    total = sum(float(segment.mrr) for segment in segments)
    names = [segment.segment_name for segment in segments][::-1]
    shares = [float(segment.mrr) / total if total else 0.0 for segment in segments][::-1]
    ax.barh(names, shares, color=NAVY, height=0.6)
    for position, share in enumerate(shares):
        ax.annotate(
            formatting.percent(share),
            xy=(share, position),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            color=INK,
        )
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlim(0, max(shares) * 1.25 if max(shares) > 0 else 1)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_title("Share of MRR by segment")
