"""The content of the board report: headline figures and charts, each with its definition and source.

Definitions are one line each, taken from docs/metrics.md (docs/board-report.md for the unit
economics, which have no table of their own). Both renderings (PDF and HTML) print them from
here, so the two never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from saas_metrics.reports import formatting
from saas_metrics.reports.data import BoardReportData

DEFINITIONS = {
    "mrr": (
        "Recurring revenue in force at the first instant of the next month: unit amount × quantity / "
        "months in the billing interval, net of active discounts."
    ),
    "arr": "MRR × 12.",
    "net_new_mrr": "New + reactivation + expansion − contraction − churn MRR.",
    "paying_customers": "Customers with MRR above 0 at the month's snapshot.",
    "arpa": "MRR / paying customers.",
    "movements": (
        "Starting MRR + new + reactivation + expansion − contraction − churn = MRR; each customer-month "
        "has one movement."
    ),
    "ndr": "MRR at the end of M of the customers paying at the end of M−12, over their MRR then.",
    "gdr": "Trailing-12-month NDR with each customer's end MRR capped at its base MRR.",
    "logo_churn": "Customers with churn in M / paying customers at the start of M.",
    "revenue_churn": "(Churn + contraction MRR) / starting MRR.",
    "cohorts": (
        "Billing cohorts (month of a customer's first MRR): cohort MRR / cohort MRR in the cohort month; "
        "reactivated customers count again."
    ),
    "infrastructure_per_user": (
        "AWS cost of the month / users active in the 30 days ending on the month's last cost day (USD)."
    ),
    "cost_per_customer": "AWS cost of the month / paying customers at the month's snapshot (USD).",
    "infrastructure_share": "AWS cost of the month / MRR.",
    "cac": "Sales and marketing spend / new customers.",
    "ltv": "ARPA × gross margin / logo churn rate.",
}

SOURCES = {
    "mrr": "analytics.mrr_monthly.mrr",
    "arr": "analytics.mrr_monthly.arr",
    "net_new_mrr": "analytics.mrr_monthly.net_new_mrr",
    "paying_customers": "analytics.mrr_monthly.paying_customers",
    "arpa": "analytics.mrr_monthly.arpa",
    "movements": "analytics.mrr_monthly (starting_mrr, new_mrr, expansion_mrr, reactivation_mrr, "
    "contraction_mrr, churned_mrr)",
    "ndr": "analytics.ndr_monthly.ndr_trailing_12m",
    "gdr": "analytics.ndr_monthly.gdr_trailing_12m",
    "logo_churn": "analytics.churn_monthly.logo_churn_rate",
    "revenue_churn": "analytics.churn_monthly.gross_mrr_churn_rate",
    "cohorts": "analytics.cohort_retention.revenue_retention",
    "segments": "analytics.segment_metrics",
    "infrastructure_per_user": "analytics.infrastructure_cost_daily (total_cost_usd, monthly_active_users)",
    "cost_per_customer": "analytics.infrastructure_cost_daily.total_cost_usd, analytics.mrr_monthly.paying_customers",
    "infrastructure_share": "analytics.infrastructure_cost_daily.total_cost_usd, analytics.mrr_monthly.mrr",
    "cac": "none: the warehouse holds no sales and marketing spend",
    "ltv": "none: the warehouse holds no cost of revenue beyond AWS",
}

UNAVAILABLE_REASONS = {
    "cac": "Unavailable: needs sales and marketing spend, which the warehouse does not hold.",
    "ltv": "Unavailable: needs gross margin (cost of revenue beyond AWS), which the warehouse does not hold.",
}


@dataclass(frozen=True)
class Headline:
    """One figure of the headline grid; `value` is None when the figure is unavailable."""

    key: str
    label: str
    value: str | None
    change: str
    definition: str
    data_through: dt.date | None
    source: str
    unavailable_reason: str | None = None

    @property
    def is_available(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class ChartSpec:
    """A chart's title, one-line definition, the date its data runs to, and its source tables."""

    key: str
    title: str
    definition: str
    data_through: dt.date
    source: str

    @property
    def caption(self) -> str:
        return (
            f"{self.definition} Data through {formatting.long_date(self.data_through)}. "
            f"Source: {self.source}."
        )


def segment_definition(data: BoardReportData) -> str:
    """Describe the segments from their configured thresholds, such as "Enterprise ≥ 5,000"."""
    if not data.segment_thresholds:
        return "Segments by customer MRR at the month's snapshot."
    parts = [f"{name} ≥ {minimum:,.0f}" for name, minimum in data.segment_thresholds[:-1]]
    last = data.segment_thresholds[-1][0]
    return f"By customer MRR ({data.currency}) at the month's snapshot: {', '.join(parts)}, otherwise {last}."


def build_headlines(data: BoardReportData) -> list[Headline]:
    """Return the headline figures of the report month with their change since the month before."""
    current, previous = data.current, data.previous
    currency = data.currency
    month_end = data.month_end
    previous_label = f" vs {formatting.short_month(previous.month_start)}" if previous else ""

    def change_money(now, before):
        text = formatting.signed_percent(formatting.relative_change(now, before))
        return f"{text}{previous_label}" if text else ""

    def change_points(now, before):
        text = formatting.signed_points(now, before)
        return f"{text}{previous_label}" if text else ""

    def prior(name):
        return getattr(previous, name) if previous else None

    headlines = [
        _headline("mrr", "MRR", formatting.money(current.mrr, currency),
                  change_money(current.mrr, prior("mrr")), month_end),
        _headline("arr", "ARR", formatting.money(current.arr, currency),
                  change_money(current.arr, prior("arr")), month_end),
        _headline("net_new_mrr", "Net new MRR", formatting.money(current.net_new_mrr, currency),
                  f"{formatting.short_month(previous.month_start)}: {formatting.money(previous.net_new_mrr, currency)}"
                  if previous else "",
                  month_end),
        _headline("paying_customers", "Paying customers", formatting.count(current.paying_customers),
                  _change_count(current.paying_customers, prior("paying_customers"), previous_label), month_end),
        _headline("arpa", "ARPA", formatting.money(current.arpa, currency),
                  change_money(current.arpa, prior("arpa")), month_end),
        _rate_headline("ndr", "NDR (trailing 12 months)", current.ndr_trailing_12m,
                       change_points(current.ndr_trailing_12m, prior("ndr_trailing_12m")), month_end,
                       "Unavailable: needs 12 months of history."),
        _rate_headline("gdr", "GDR (trailing 12 months)", current.gdr_trailing_12m,
                       change_points(current.gdr_trailing_12m, prior("gdr_trailing_12m")), month_end,
                       "Unavailable: needs 12 months of history."),
        _rate_headline("logo_churn", "Logo churn", current.logo_churn_rate,
                       change_points(current.logo_churn_rate, prior("logo_churn_rate")), month_end,
                       "Unavailable: no paying customers at the start of the month.", decimals=2),
        _rate_headline("revenue_churn", "Revenue churn (gross)", current.gross_mrr_churn_rate,
                       change_points(current.gross_mrr_churn_rate, prior("gross_mrr_churn_rate")), month_end,
                       "Unavailable: no MRR at the start of the month.", decimals=2),
    ]
    headlines.extend(unit_economics(data))
    return headlines


def unit_economics(data: BoardReportData) -> list[Headline]:
    """Return infrastructure cost per user, cost per paying customer, cost share of MRR, CAC and LTV.

    A figure whose inputs are missing is unavailable with the reason, never 0.
    """
    infrastructure = data.infrastructure
    current = data.current
    through = infrastructure.last_cost_date if infrastructure else None
    no_costs = "Unavailable: analytics.infrastructure_cost_daily has no cost for the month."

    per_user = None
    per_user_reason = no_costs
    if infrastructure and infrastructure.monthly_active_users:
        per_user = formatting.money(
            infrastructure.total_cost_usd / Decimal(infrastructure.monthly_active_users), "USD", decimals=2
        )
    elif infrastructure:
        per_user_reason = "Unavailable: no active users in the 30 days ending on the month's last cost day."

    per_customer = None
    per_customer_reason = no_costs
    if infrastructure and current.paying_customers:
        per_customer = formatting.money(
            infrastructure.total_cost_usd / Decimal(current.paying_customers), "USD", decimals=2
        )
    elif infrastructure:
        per_customer_reason = "Unavailable: no paying customers at the month's snapshot."

    share = None
    share_reason = no_costs
    if infrastructure and data.currency == "USD" and current.mrr:
        share = formatting.percent(infrastructure.total_cost_usd / current.mrr)
    elif infrastructure and data.currency != "USD":
        share_reason = f"Unavailable: costs are in USD and MRR in {data.currency}."
    elif infrastructure:
        share_reason = "Unavailable: MRR is 0."

    return [
        Headline("infrastructure_per_user", "Infrastructure cost per active user", per_user, "",
                 DEFINITIONS["infrastructure_per_user"], through, SOURCES["infrastructure_per_user"],
                 None if per_user else per_user_reason),
        Headline("cost_per_customer", "Infrastructure cost per paying customer", per_customer, "",
                 DEFINITIONS["cost_per_customer"], through, SOURCES["cost_per_customer"],
                 None if per_customer else per_customer_reason),
        Headline("infrastructure_share", "Infrastructure cost / MRR", share, "",
                 DEFINITIONS["infrastructure_share"], through, SOURCES["infrastructure_share"],
                 None if share else share_reason),
        Headline("cac", "CAC", None, "", DEFINITIONS["cac"], None, SOURCES["cac"], UNAVAILABLE_REASONS["cac"]),
        Headline("ltv", "LTV", None, "", DEFINITIONS["ltv"], None, SOURCES["ltv"], UNAVAILABLE_REASONS["ltv"]),
    ]


def build_charts(data: BoardReportData) -> dict[str, ChartSpec]:
    """Return the report's charts by key, in the order they appear."""
    through = data.month_end
    return {
        "mrr_trend": ChartSpec(
            "mrr_trend", "MRR trend", DEFINITIONS["mrr"], through, "analytics.mrr_monthly.mrr"
        ),
        "waterfall": ChartSpec(
            "waterfall", f"MRR movements in {data.label}", DEFINITIONS["movements"], through, SOURCES["movements"]
        ),
        "retention": ChartSpec(
            "retention",
            "Net and gross dollar retention (trailing 12 months)",
            f"NDR: {DEFINITIONS['ndr']} GDR: {DEFINITIONS['gdr']}",
            through,
            "analytics.ndr_monthly (ndr_trailing_12m, gdr_trailing_12m)",
        ),
        "churn": ChartSpec(
            "churn",
            "Churn: logo and revenue",
            f"Logo: {DEFINITIONS['logo_churn']} Revenue: {DEFINITIONS['revenue_churn']}",
            through,
            "analytics.churn_monthly (logo_churn_rate, gross_mrr_churn_rate)",
        ),
        "cohorts": ChartSpec(
            "cohorts",
            "Revenue retention by billing cohort",
            DEFINITIONS["cohorts"],
            through,
            SOURCES["cohorts"],
        ),
        "segments": ChartSpec(
            "segments", f"Segments in {data.label}", segment_definition(data), through, SOURCES["segments"]
        ),
    }


def _headline(key, label, value, change, through) -> Headline:
    return Headline(key, label, value, change, DEFINITIONS[key], through, SOURCES[key])


def _rate_headline(key, label, rate, change, through, reason, *, decimals=1) -> Headline:
    if rate is None:
        return Headline(key, label, None, "", DEFINITIONS[key], through, SOURCES[key], reason)
    return Headline(key, label, formatting.percent(rate, decimals=decimals), change, DEFINITIONS[key], through,
                    SOURCES[key])


def _change_count(current: int, previous: int | None, previous_label: str) -> str:
    if previous is None:
        return ""
    difference = current - previous
    sign = "+" if difference >= 0 else formatting.MINUS
    return f"{sign}{abs(difference):,}{previous_label}"
