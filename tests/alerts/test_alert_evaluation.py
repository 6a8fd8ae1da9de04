"""Rule evaluation and the metric catalog's queries on small hand-checked tables in PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from saas_metrics.alerts.config import load_alerts_config
from saas_metrics.alerts.evaluation import ERROR, FIRED, NOT_EVALUATED, NOT_FIRED, Period, evaluate_rule

NOVEMBER = Period.for_interval_end(dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC))
RUN_LABEL = "test_dag / manual__test"
CHURN_MONTHLY_TABLE = """
    create table analytics.churn_monthly (
        month_start date, logo_churn_rate numeric, gross_mrr_churn_rate numeric, net_mrr_churn_rate numeric
    )
"""


def _rule(name):
    return next(rule for rule in load_alerts_config().rules if rule.name == name)


def _evaluate(warehouse_db, name, period=NOVEMBER):
    with warehouse_db.connect() as conn:
        return evaluate_rule(conn, _rule(name), period, run_label=RUN_LABEL)


def _execute(warehouse_db, *statements):
    with warehouse_db.connect() as conn:
        conn.execute("create schema if not exists analytics")
        for statement in statements:
            conn.execute(statement)


def _mrr_monthly(warehouse_db, *rows):
    """rows: (month_start, currency_basis, mrr, starting_customers, churned_customers)."""
    _execute(
        warehouse_db,
        """
        create table analytics.mrr_monthly (
            month_start date, currency_basis text, currency text, is_provisional boolean,
            mrr numeric, starting_customers bigint, churned_customers bigint
        )
        """,
    )
    with warehouse_db.connect() as conn:
        for month_start, basis, mrr, starting, churned in rows:
            conn.execute(
                "insert into analytics.mrr_monthly values (%s, %s, %s, %s, %s, %s, %s)",
                (month_start, basis, "usd" if basis == "reporting" else "eur", False, mrr, starting, churned),
            )


def test_period_is_month_of_interval_end():
    period = Period.for_interval_end(dt.datetime(2026, 12, 1, 7, tzinfo=dt.UTC))
    assert period.label == "2026-12"


def test_period_at_midnight_is_previous_month():
    period = Period.for_interval_end(dt.datetime(2026, 12, 1, 0, tzinfo=dt.UTC))
    assert period.label == "2026-11"


def test_period_uses_utc_month():
    period = Period.for_interval_end(
        dt.datetime(2026, 11, 30, 20, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    )
    assert period.label == "2026-12"


def test_period_without_time_zone_is_rejected():
    with pytest.raises(ValueError, match="no time zone"):
        Period.for_interval_end(dt.datetime(2026, 12, 1, 7))


def test_mrr_drop_fires_with_values(warehouse_db):
    _mrr_monthly(
        warehouse_db,
        ("2026-10-01", "reporting", 100000, 400, 0),
        ("2026-11-01", "reporting", 90000, 410, 12),
        ("2026-11-01", "native", 5000, 20, 1),
    )
    evaluation = _evaluate(warehouse_db, "mrr_drop_alert")
    assert evaluation.status == FIRED
    assert evaluation.values["month_over_month_change"] == Decimal("-0.1")
    assert evaluation.values["currency"] == "USD"


def test_mrr_drop_message_shows_values(warehouse_db):
    _mrr_monthly(
        warehouse_db, ("2026-10-01", "reporting", 100000, 400, 0), ("2026-11-01", "reporting", 90000, 410, 12)
    )
    message = _evaluate(warehouse_db, "mrr_drop_alert").message
    assert "MRR changed by -10.0% from 2026-10 to 2026-11" in message.text
    assert "90,000.00 USD now against 100,000.00 USD" in message.text
    assert "What to do: Check which movement" in message.text
    assert "Period: 2026-11 (month to date)" in message.text
    assert message.subject == "[CRITICAL] mrr_drop_alert for 2026-11"


def test_small_mrr_drop_does_not_fire(warehouse_db):
    _mrr_monthly(
        warehouse_db, ("2026-10-01", "reporting", 100000, 400, 0), ("2026-11-01", "reporting", 96000, 410, 3)
    )
    evaluation = _evaluate(warehouse_db, "mrr_drop_alert")
    assert evaluation.status == NOT_FIRED
    assert evaluation.message is None


def test_missing_previous_month_is_not_evaluated(warehouse_db):
    _mrr_monthly(warehouse_db, ("2026-11-01", "reporting", 90000, 0, 0))
    evaluation = _evaluate(warehouse_db, "mrr_drop_alert")
    assert evaluation.status == NOT_EVALUATED
    assert "month_over_month_change is null" in evaluation.reason


def test_missing_period_row_is_not_evaluated(warehouse_db):
    _mrr_monthly(warehouse_db, ("2026-10-01", "reporting", 100000, 400, 0))
    evaluation = _evaluate(warehouse_db, "mrr_drop_alert")
    assert evaluation.status == NOT_EVALUATED
    assert evaluation.reason == "no rows for 2026-11 in analytics.mrr_monthly"


def test_missing_table_is_not_evaluated(warehouse_db):
    evaluation = _evaluate(warehouse_db, "stripe_reconciliation_alert")
    assert evaluation.status == NOT_EVALUATED
    assert evaluation.reason == "tables analytics.mrr_reconciliation, staging.fx_rates_monthly do not exist yet"


def test_missing_table_logs_warning(warehouse_db, caplog):
    _evaluate(warehouse_db, "infra_cost_per_user_alert")
    assert "infra_cost_per_user_alert not evaluated for 2026-11" in caplog.text


def test_table_with_other_columns_is_error(warehouse_db):
    _execute(
        warehouse_db,
        "create table analytics.mrr_reconciliation (month_start date, currency text)",
        "create schema if not exists staging",
        "create table staging.fx_rates_monthly (month_start date, currency text, rate_to_usd numeric)",
    )
    evaluation = _evaluate(warehouse_db, "stripe_reconciliation_alert")
    assert evaluation.status == ERROR
    assert "engine_mrr" in evaluation.reason


def test_churn_spike_fires_with_counts(warehouse_db):
    _mrr_monthly(
        warehouse_db, ("2026-11-01", "reporting", 90000, 400, 8), ("2026-11-01", "native", 1, 400, 8)
    )
    _execute(
        warehouse_db,
        CHURN_MONTHLY_TABLE,
        "insert into analytics.churn_monthly values ('2026-11-01', 0.02, 0.03, 0.01)",
    )
    evaluation = _evaluate(warehouse_db, "churn_spike_alert")
    assert evaluation.status == FIRED
    assert evaluation.values["churned_customers"] == 8
    assert "8 of the 400 customers" in evaluation.message.text


def test_churn_without_mrr_table_is_not_evaluated(warehouse_db):
    _execute(
        warehouse_db,
        CHURN_MONTHLY_TABLE,
    )
    evaluation = _evaluate(warehouse_db, "churn_spike_alert")
    assert evaluation.reason == "table analytics.mrr_monthly does not exist yet"


def _infrastructure_costs(warehouse_db, days):
    """days: (cost_date, total_cost_usd, active_users)."""
    _execute(
        warehouse_db,
        """
        create table analytics.infrastructure_cost_daily (
            cost_date date, total_cost_usd numeric, active_users integer, cost_per_active_user numeric
        )
        """,
    )
    with warehouse_db.connect() as conn:
        for cost_date, cost, users in days:
            conn.execute(
                "insert into analytics.infrastructure_cost_daily values (%s, %s, %s, %s)",
                (cost_date, cost, users, Decimal(cost) / users),
            )


def _october_and_november_costs(november_cost):
    october = [(dt.date(2026, 10, day), 300, 100) for day in range(1, 32)]
    november = [(dt.date(2026, 11, day), november_cost, 100) for day in range(1, 31)]
    return october + november


def test_infrastructure_cost_rise_fires(warehouse_db):
    # October: 3.00 per user-day. November 1-19 (before the interval end on the 20th): 3.60.
    _infrastructure_costs(warehouse_db, _october_and_november_costs(360))
    evaluation = _evaluate(warehouse_db, "infra_cost_per_user_alert")
    assert evaluation.status == FIRED
    assert evaluation.values["month_over_month_change"] == Decimal("0.2")
    assert evaluation.values["current_cost_per_user"] == Decimal("108")
    assert evaluation.values["previous_cost_per_user"] == Decimal("93")


def test_infrastructure_cost_ignores_days_after_interval_end(warehouse_db):
    days = _october_and_november_costs(300)
    days += [(dt.date(2026, 11, 20), 100000, 100)]
    _infrastructure_costs(warehouse_db, days)
    evaluation = _evaluate(warehouse_db, "infra_cost_per_user_alert")
    assert evaluation.values["cost_days"] == 19
    assert evaluation.status == NOT_FIRED


def test_reconciliation_weights_currencies_in_usd(warehouse_db):
    _execute(
        warehouse_db,
        """
        create table analytics.mrr_reconciliation (
            month_start date, currency text, engine_mrr numeric, invoiced_mrr numeric, difference numeric
        )
        """,
        "create schema if not exists staging",
        "create table staging.fx_rates_monthly (month_start date, currency text, rate_to_usd numeric)",
        "insert into staging.fx_rates_monthly values ('2026-11-01', 'eur', 1.1)",
        """
        insert into analytics.mrr_reconciliation values
            ('2026-11-01', 'usd', 100000, 99000, 1000),
            ('2026-11-01', 'eur', 8000, 10000, -2000),
            ('2026-10-01', 'gbp', 100, 200, -100)
        """,
    )
    evaluation = _evaluate(warehouse_db, "stripe_reconciliation_alert")
    # (1,000 + 2,000 x 1.1) / (99,000 + 10,000 x 1.1) = 3,200 / 110,000
    assert evaluation.status == FIRED
    assert evaluation.values["difference_ratio"] == pytest.approx(Decimal(3200) / Decimal(110000))
    assert evaluation.values["invoice_mrr"] == Decimal("110000.0")
    assert evaluation.values["currencies_compared"] == 2


def test_reconciliation_without_fx_rate_is_not_evaluated(warehouse_db):
    _execute(
        warehouse_db,
        """
        create table analytics.mrr_reconciliation (
            month_start date, currency text, engine_mrr numeric, invoiced_mrr numeric, difference numeric
        )
        """,
        "create schema if not exists staging",
        "create table staging.fx_rates_monthly (month_start date, currency text, rate_to_usd numeric)",
        "insert into analytics.mrr_reconciliation values ('2026-11-01', 'eur', 8000, 10000, -2000)",
    )
    evaluation = _evaluate(warehouse_db, "stripe_reconciliation_alert")
    assert evaluation.status == NOT_EVALUATED


def test_several_rows_are_not_evaluated(warehouse_db):
    _execute(
        warehouse_db,
        CHURN_MONTHLY_TABLE,
        "insert into analytics.churn_monthly values ('2026-11-01', 0.02, 0, 0), ('2026-11-01', 0.01, 0, 0)",
    )
    _mrr_monthly(warehouse_db)
    evaluation = _evaluate(warehouse_db, "churn_spike_alert")
    assert evaluation.status == NOT_EVALUATED
    assert "returned 2 rows" in evaluation.reason
