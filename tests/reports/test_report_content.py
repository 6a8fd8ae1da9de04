"""Headline figures and number formats of the board report, on hand-made month data."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from saas_metrics.reports import formatting
from saas_metrics.reports.content import build_charts, build_headlines, segment_definition
from saas_metrics.reports.data import BoardReportData, InfrastructureMonth, MonthMetrics

SNAPSHOT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _month(month_start, mrr, paying=100, **overrides) -> MonthMetrics:
    values = {
        "month_start": month_start,
        "is_provisional": False,
        "snapshot_at": SNAPSHOT,
        "as_of": SNAPSHOT,
        "starting_mrr": Decimal(mrr),
        "mrr": Decimal(mrr),
        "arr": Decimal(mrr) * 12,
        "paying_customers": paying,
        "arpa": Decimal(mrr) / paying if paying else None,
        "new_customers": 0,
        "new_mrr": Decimal(0),
        "expansion_mrr": Decimal(0),
        "contraction_mrr": Decimal(0),
        "churned_customers": 0,
        "churned_mrr": Decimal(0),
        "reactivation_mrr": Decimal(0),
        "net_new_mrr": Decimal(0),
        "ndr_trailing_12m": Decimal("1.05"),
        "gdr_trailing_12m": Decimal("0.95"),
        "logo_churn_rate": Decimal("0.02"),
        "gross_mrr_churn_rate": Decimal("0.01"),
        "net_mrr_churn_rate": Decimal("-0.01"),
        "quick_ratio": None,
    }
    values.update(overrides)
    return MonthMetrics(**values)


def _data(**overrides) -> BoardReportData:
    values = {
        "month": dt.date(2026, 5, 1),
        "currency": "USD",
        "months": (_month(dt.date(2026, 4, 1), 9000), _month(dt.date(2026, 5, 1), 10000)),
        "cohorts": (),
        "segments": (),
        "infrastructure": InfrastructureMonth(
            total_cost_usd=Decimal(500), cost_days=31, last_cost_date=dt.date(2026, 5, 31),
            monthly_active_users=Decimal(250),
        ),
        "segment_thresholds": (("Enterprise", 5000.0), ("SMB", 200.0), ("Self-Serve", 0.0)),
    }
    values.update(overrides)
    return BoardReportData(**values)


def _headlines(data) -> dict:
    return {headline.key: headline for headline in build_headlines(data)}


def test_mrr_headline_and_change():
    mrr = _headlines(_data())["mrr"]
    assert mrr.value == "$10,000"
    assert mrr.change == "+11.1 % vs Apr 2026"


def test_rate_change_in_points():
    data = _data()
    months = (data.months[0], replace(data.months[1], logo_churn_rate=Decimal("0.035")))
    assert _headlines(replace(data, months=months))["logo_churn"].change == "+1.5 pts vs Apr 2026"


def test_cost_per_active_user():
    assert _headlines(_data())["infrastructure_per_user"].value == "$2.00"


def test_cost_per_paying_customer():
    assert _headlines(_data())["cost_per_customer"].value == "$5.00"


def test_cost_share_of_mrr():
    assert _headlines(_data())["infrastructure_share"].value == "5.0 %"


@pytest.mark.parametrize("key", ["cac", "ltv"])
def test_cac_ltv_always_unavailable(key):
    headline = _headlines(_data())[key]
    assert headline.value is None
    assert headline.unavailable_reason.startswith("Unavailable: needs")


@pytest.mark.parametrize("key", ["infrastructure_per_user", "cost_per_customer", "infrastructure_share"])
def test_costs_unavailable_without_costs(key):
    headline = _headlines(_data(infrastructure=None))[key]
    assert headline.value is None
    assert "has no cost for the month" in headline.unavailable_reason


def test_cost_per_user_unavailable_without_users():
    data = _data()
    infrastructure = replace(data.infrastructure, monthly_active_users=Decimal(0))
    headline = _headlines(replace(data, infrastructure=infrastructure))["infrastructure_per_user"]
    assert headline.value is None
    assert "no active users" in headline.unavailable_reason


def test_cost_share_needs_usd_mrr():
    headline = _headlines(_data(currency="EUR"))["infrastructure_share"]
    assert headline.value is None
    assert headline.unavailable_reason == "Unavailable: costs are in USD and MRR in EUR."


def test_ndr_unavailable_without_history():
    data = _data()
    months = (data.months[0], replace(data.months[1], ndr_trailing_12m=None))
    headline = _headlines(replace(data, months=months))["ndr"]
    assert headline.value is None
    assert headline.unavailable_reason == "Unavailable: needs 12 months of history."


def test_first_month_has_no_change():
    data = _data(months=(_month(dt.date(2026, 5, 1), 10000),))
    assert _headlines(data)["mrr"].change == ""


def test_segment_definition_from_thresholds():
    assert segment_definition(_data()) == (
        "By customer MRR (USD) at the month's snapshot: Enterprise ≥ 5,000, SMB ≥ 200, otherwise Self-Serve."
    )


def test_charts_run_to_month_end():
    assert {spec.data_through for spec in build_charts(_data()).values()} == {dt.date(2026, 5, 31)}


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal("68125.8"), "USD", "$68,126"),
        (Decimal("-2217.4"), "USD", "\u2212$2,217"),
        (Decimal("1234567"), "EUR", "€1.23M"),
        (Decimal("980"), "CHF", "CHF 980"),
        (None, "USD", "n/a"),
    ],
)
def test_money_format(value, currency, expected):
    assert formatting.money(value, currency) == expected


def test_percent_format():
    assert formatting.percent(Decimal("0.91829")) == "91.8 %"
