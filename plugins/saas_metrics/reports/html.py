"""The board report as one self-contained HTML page: charts inline as SVG data URIs, no external assets."""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path

from saas_metrics.reports import charts, formatting
from saas_metrics.reports.content import build_charts, build_headlines
from saas_metrics.reports.data import BoardReportData
from saas_metrics.reports.validation import FinanceValidation

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "board_report.html.j2"

# (chart key, drawing function, figure size in inches)
CHART_DRAWINGS = {
    "mrr_trend": (charts.draw_mrr_trend, (7.2, 3.6)),
    "waterfall": (charts.draw_waterfall, (5.4, 3.6)),
    "retention": (charts.draw_retention, (10.5, 3.6)),
    "churn": (charts.draw_churn, (10.5, 3.6)),
    "cohorts": (charts.draw_cohort_heatmap, (10.5, 5.2)),
    "segments": (charts.draw_segment_mrr, (5.0, 3.0)),
}


def render_chart_svg(draw, data: BoardReportData, size: tuple[float, float]) -> str:
    """Draw one chart on its own figure and return it as a data URI of an SVG image."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context(charts.RC_PARAMS):
        figure = Figure(figsize=size, layout="constrained")
        draw(figure.add_subplot(), data)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(data: BoardReportData, validation: FinanceValidation, *, generated_at: dt.datetime) -> str:
    """Return the report page as HTML text."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    specs = build_charts(data)
    images = {key: render_chart_svg(draw, data, size) for key, (draw, size) in CHART_DRAWINGS.items()}
    headlines = build_headlines(data)
    return environment.get_template(TEMPLATE_NAME).render(
        data=data,
        validation=validation,
        generated_at=generated_at,
        headlines=headlines,
        unit_economics=[
            headline
            for headline in headlines
            if headline.key in ("arpa", "infrastructure_per_user", "cost_per_customer", "infrastructure_share",
                                "cac", "ltv")
        ],
        specs=specs,
        images=images,
        movements=[
            ("New", data.current.new_customers, data.current.new_mrr),
            ("Expansion", None, data.current.expansion_mrr),
            ("Reactivation", None, data.current.reactivation_mrr),
            ("Contraction", None, -data.current.contraction_mrr),
            ("Churn", data.current.churned_customers, -data.current.churned_mrr),
            ("Net new MRR", None, data.current.net_new_mrr),
        ],
        fmt=formatting,
    )


def write_html(path: Path, data: BoardReportData, validation: FinanceValidation, *, generated_at: dt.datetime) -> None:
    path.write_text(render_html(data, validation, generated_at=generated_at), encoding="utf-8")
