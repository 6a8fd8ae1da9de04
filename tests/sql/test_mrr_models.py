"""MRR models on small hand-checked inputs in the real PostgreSQL server.

Amounts below are worked out by hand in the comments; Stripe amounts are in minor units.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from helpers.models import (
    create_raw_tables,
    insert_fx_rate,
    insert_subscription_version,
    models_upstream_of,
    price,
    run_models,
    unix,
)

AS_OF = dt.datetime(2026, 4, 15, 7, tzinfo=dt.UTC)
MRR_TASKS = models_upstream_of("mrr_monthly")


@pytest.fixture
def raw(warehouse_db):
    with warehouse_db.connect() as conn:
        run_models(conn, AS_OF, only={"setup_warehouse"})
        create_raw_tables(conn)
        yield conn


def _compute(conn, as_of=AS_OF, **parameters):
    conn.commit()
    return run_models(conn, as_of, only=MRR_TASKS, parameters=parameters)


def _customer_mrr(conn, customer_id, month, basis="native"):
    row = conn.execute(
        "select mrr, movement from analytics.customer_mrr_monthly "
        "where customer_id = %s and month_start = %s and currency_basis = %s",
        (customer_id, month, basis),
    ).fetchone()
    return row


def _monthly(conn, month, currency="usd", basis="reporting"):
    cursor = conn.execute(
        "select * from analytics.mrr_monthly where month_start = %s and currency = %s and currency_basis = %s",
        (month, currency, basis),
    )
    row = cursor.fetchone()
    return dict(zip([column.name for column in cursor.description], row, strict=True)) if row else None


def test_monthly_plan_counts_at_month_end(raw):
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
                                items=[(price(2000), 1)])
    _compute(raw)
    assert _customer_mrr(raw, "c1", "2026-01-01") == (Decimal("20"), "new")
    assert _customer_mrr(raw, "c1", "2026-02-01") == (Decimal("20"), "none")


@pytest.mark.parametrize(
    ("item_price", "quantity", "expected"),
    [
        (price(120000, interval="year"), 1, Decimal("100")),
        (price(1500), 3, Decimal("45")),
        (price(6000, interval="month", interval_count=3), 1, Decimal("20")),
        (price(500, interval="week"), 1, Decimal("5") * 52 / 12),
        (price(100, interval="day"), 1, Decimal("1") * 365 / 12),
    ],
    ids=["yearly", "quantity", "quarterly", "weekly", "daily"],
)
def test_interval_normalisation(raw, item_price, quantity, expected):
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
                                items=[(item_price, quantity)])
    _compute(raw)
    mrr, _ = _customer_mrr(raw, "c1", "2026-01-01")
    assert mrr == pytest.approx(expected, abs=Decimal("1e-12"))


@pytest.mark.parametrize(
    ("status", "expected"),
    [("active", Decimal("20")), ("past_due", Decimal("20")), ("trialing", None), ("unpaid", None),
     ("incomplete", None), ("canceled", None), ("paused", None)],
)
def test_only_active_and_past_due_count(raw, status, expected):
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
                                status=status, items=[(price(2000), 1)])
    _compute(raw)
    row = _customer_mrr(raw, "c1", "2026-01-01")
    assert (row[0] if row else None) == expected


def test_metered_and_one_time_items_are_not_mrr(raw):
    insert_subscription_version(
        raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
        items=[(price(2000), 1), (price(999, usage_type="metered"), 1), (price(5000, price_type="one_time"), 1)],
    )
    _compute(raw)
    assert _customer_mrr(raw, "c1", "2026-01-01")[0] == Decimal("20")


def test_repeating_percent_discount_expires(raw):
    discount = {
        "coupon": {"id": "twenty", "percent_off": 25, "duration": "repeating", "duration_in_months": 2},
        "start": unix("2026-01-15T10:00:00"),
        "end": None,
    }
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
                                items=[(price(4000), 1)], discount=discount)
    _compute(raw)
    # 40.00 less 25 % until 2026-03-15, so the January and February snapshots are discounted.
    assert _customer_mrr(raw, "c1", "2026-01-01")[0] == Decimal("30")
    assert _customer_mrr(raw, "c1", "2026-02-01")[0] == Decimal("30")
    assert _customer_mrr(raw, "c1", "2026-03-01") == (Decimal("40"), "expansion")


def test_forever_only_policy_ignores_repeating_coupon(raw):
    discount = {
        "coupon": {"id": "twenty", "percent_off": 25, "duration": "repeating", "duration_in_months": 2},
        "start": unix("2026-01-15T10:00:00"),
    }
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
                                items=[(price(4000), 1)], discount=discount)
    _compute(raw, discount_policy="forever_only")
    assert _customer_mrr(raw, "c1", "2026-01-01")[0] == Decimal("40")


def test_amount_off_floors_at_zero(raw):
    yearly_discount = {"coupon": {"id": "a", "amount_off": 12000, "duration": "forever"}, "start": unix("2026-01-01")}
    big_discount = {"coupon": {"id": "b", "amount_off": 99900, "duration": "forever"}, "start": unix("2026-01-01")}
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
                                items=[(price(240000, interval="year"), 1)], discount=yearly_discount)
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2026-01-15T10:00:00",
                                items=[(price(2000), 1)], discount=big_discount)
    _compute(raw)
    # 2,400.00 a year = 200.00 a month, less 120.00 a year = 10.00 a month.
    assert _customer_mrr(raw, "c1", "2026-01-01")[0] == Decimal("190")
    assert _customer_mrr(raw, "c2", "2026-01-01") is None


def test_zero_decimal_currency_and_fx(raw):
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
                                currency="jpy", items=[(price(2000, currency="jpy"), 3)])
    insert_fx_rate(raw, "2026-01-01", "jpy", "0.0066")
    for month in ("2026-02-01", "2026-03-01", "2026-04-01"):
        insert_fx_rate(raw, month, "jpy", "0.0070")
    _compute(raw)
    assert _customer_mrr(raw, "c1", "2026-01-01")[0] == Decimal("6000")
    assert _customer_mrr(raw, "c1", "2026-01-01", basis="reporting")[0] == Decimal("39.6")


def test_missing_fx_rate_fails_with_message(raw):
    from saas_metrics.operators.sql_transform import SqlTransformError

    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-15T10:00:00",
                                currency="eur", items=[(price(2000, currency="eur"), 1)])
    with pytest.raises(SqlTransformError, match="Missing FX rate for EUR to USD in 2026-01"):
        _compute(raw)


def test_duplicate_and_out_of_order_versions(raw):
    versions = [("2026-03-10T00:00:00", 3), ("2026-01-15T10:00:00", 1), ("2026-02-10T00:00:00", 2)]
    for updated, seats in versions + [versions[0]]:
        insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated=updated,
                                    items=[(price(1000), seats)])
    _compute(raw)
    assert _customer_mrr(raw, "c1", "2026-01-01")[0] == Decimal("10")
    assert _customer_mrr(raw, "c1", "2026-02-01") == (Decimal("20"), "expansion")
    assert _customer_mrr(raw, "c1", "2026-03-01") == (Decimal("30"), "expansion")
    assert raw.execute("select count(*) from core.subscription_item_states").fetchone()[0] == 3


def test_movements_and_bridge(raw):
    one = [(price(1000), 1)]
    # c1: new in January, churns in March (immediate cancel), reactivates in April.
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-05T00:00:00", items=one)
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-03-05T00:00:00",
                                status="canceled", items=one)
    insert_subscription_version(raw, subscription_id="s9", customer_id="c1", updated="2026-04-05T00:00:00", items=one)
    # c2: two subscriptions; cancelling one in February is contraction, not churn.
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2026-01-05T00:00:00", items=one)
    insert_subscription_version(raw, subscription_id="s3", customer_id="c2", updated="2026-01-05T00:00:00",
                                items=[(price(500), 1)])
    insert_subscription_version(raw, subscription_id="s3", customer_id="c2", updated="2026-02-05T00:00:00",
                                status="canceled", items=[(price(500), 1)])
    _compute(raw)
    assert _customer_mrr(raw, "c2", "2026-02-01") == (Decimal("10"), "contraction")
    assert _customer_mrr(raw, "c1", "2026-03-01") == (Decimal("0"), "churn")
    assert _customer_mrr(raw, "c1", "2026-04-01") == (Decimal("10"), "reactivation")
    rows = raw.execute(
        "select month_start, starting_mrr + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr "
        "- churned_mrr - mrr from analytics.mrr_monthly"
    ).fetchall()
    assert rows
    assert all(difference == 0 for _, difference in rows)
    april = _monthly(raw, dt.date(2026, 4, 1))
    assert april["is_provisional"] is True
    assert april["paying_customers"] == 2
    assert april["reactivation_mrr"] == Decimal("10")


def test_cancel_at_period_end_keeps_mrr_until_end(raw):
    one = [(price(1000), 1)]
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-05T00:00:00", items=one)
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-20T00:00:00",
                                items=one, cancel_at_period_end=True, canceled_at=unix("2026-01-20T00:00:00"))
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-02-05T00:00:00",
                                status="canceled", items=one, ended_at=unix("2026-02-05T00:00:00"))
    _compute(raw)
    assert _customer_mrr(raw, "c1", "2026-01-01") == (Decimal("10"), "new")
    assert _customer_mrr(raw, "c1", "2026-02-01") == (Decimal("0"), "churn")


@pytest.mark.parametrize(("time_zone", "first_month"), [("UTC", "2026-02-01"), ("America/Los_Angeles", "2026-01-01")])
def test_late_pacific_start_lands_in_reporting_month(raw, time_zone, first_month):
    # 2026-01-31 23:30 in Los Angeles is 2026-02-01 07:30 UTC.
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-02-01T07:30:00",
                                items=[(price(1000), 1)])
    _compute(raw, reporting_time_zone=time_zone)
    first = raw.execute(
        "select min(month_start)::text from analytics.customer_mrr_monthly where customer_id = 'c1'"
    ).fetchone()[0]
    assert first == first_month


def test_session_time_zone_does_not_change_results(raw):
    discount = {"coupon": {"id": "r", "percent_off": 50, "duration": "repeating", "duration_in_months": 1},
                "start": unix("2026-01-31T23:00:00")}
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-31T23:00:00",
                                items=[(price(1000), 1)], discount=discount)
    results = []
    for session_zone in ("UTC", "Pacific/Kiritimati", "America/Los_Angeles"):
        raw.execute(f"set time zone '{session_zone}'")
        _compute(raw)
        results.append(raw.execute(
            "select month_start, currency_basis, mrr, movement from analytics.customer_mrr_monthly order by 1, 2"
        ).fetchall())
    assert results[0] == results[1] == results[2]


def test_bad_items_are_quarantined_with_reason(raw):
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-05T00:00:00",
                                items=[(price(1000, interval="fortnight"), 1)])
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2026-01-05T00:00:00",
                                items=[(price(1000), -2)])
    insert_subscription_version(raw, subscription_id="s3", customer_id="c3", updated="2026-01-05T00:00:00",
                                currency="xyz", items=[(price(1000, currency="xyz"), 1)])
    insert_subscription_version(raw, subscription_id="s4", customer_id="c4", updated="2026-01-05T00:00:00",
                                items=[(price(1000), "two")])
    insert_subscription_version(raw, subscription_id="s5", customer_id="c5", updated="2026-01-05T00:00:00",
                                items=[(price(1000), 1)])
    _compute(raw)
    reasons = dict(raw.execute("select record_key, reason from staging.quarantine").fetchall())
    assert reasons["s1/si_s1_0"] == "unknown billing interval fortnight"
    assert reasons["s2/si_s2_0"] == "negative quantity -2"
    assert reasons["s3/si_s3_0"] == "unknown currency xyz"
    assert reasons["s4/si_s4_0"] == "non-numeric quantity two"
    staged = raw.execute("select count(*) from staging.stripe_subscription_items").fetchone()[0]
    assert staged + len(reasons) == 5


def test_version_without_items_keeps_previous_state(raw):
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-05T00:00:00",
                                items=[(price(2000), 1)])
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-02-10T00:00:00",
                                items=[])
    _compute(raw)
    assert _customer_mrr(raw, "c1", "2026-02-01") == (Decimal("20"), "none")
    reasons = raw.execute(
        "select record_key, reason from staging.quarantine where source_table = 'raw_stripe.subscriptions'"
    ).fetchall()
    assert reasons == [("s1/no items", "version without items")]


RATE_TASKS = models_upstream_of("compute_ndr", "churn_monthly", "churn_timing_comparison", "cohort_retention_average")


def _rates(conn, as_of=AS_OF):
    conn.commit()
    return run_models(conn, as_of, only=RATE_TASKS)


def test_zero_start_gives_null_rates(raw):
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-05T00:00:00",
                                items=[(price(1000), 1)])
    _rates(raw)
    january = raw.execute(
        "select logo_churn_rate, gross_mrr_churn_rate, net_mrr_churn_rate, quick_ratio "
        "from analytics.churn_monthly where month_start = '2026-01-01'"
    ).fetchone()
    assert january == (None, None, None, None)
    nrr = raw.execute("select nrr_month_over_month from analytics.ndr_monthly where month_start = '2026-01-01'")
    assert nrr.fetchone() == (None,)


def test_churn_rates_and_quick_ratio(raw):
    # February: 4 customers at 10.00 each start the month; one churns, one contracts to 5.00,
    # one expands to 30.00, one new customer at 10.00 arrives.
    for number in range(1, 5):
        insert_subscription_version(raw, subscription_id=f"s{number}", customer_id=f"c{number}",
                                    updated="2026-01-05T00:00:00", items=[(price(1000), 1)])
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-02-05T00:00:00",
                                status="canceled", items=[(price(1000), 1)])
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2026-02-05T00:00:00",
                                items=[(price(500), 1)])
    insert_subscription_version(raw, subscription_id="s3", customer_id="c3", updated="2026-02-05T00:00:00",
                                items=[(price(1000), 3)])
    insert_subscription_version(raw, subscription_id="s5", customer_id="c5", updated="2026-02-05T00:00:00",
                                items=[(price(1000), 1)])
    _rates(raw)
    logo, gross, net, quick = raw.execute(
        "select logo_churn_rate, gross_mrr_churn_rate, net_mrr_churn_rate, quick_ratio "
        "from analytics.churn_monthly where month_start = '2026-02-01'"
    ).fetchone()
    assert logo == Decimal("0.25")
    assert gross == Decimal("15") / Decimal("40")
    assert net == Decimal("-5") / Decimal("40")
    assert quick == Decimal("30") / Decimal("15")
    nrr, grr = raw.execute(
        "select nrr_month_over_month, grr_month_over_month from analytics.ndr_monthly where month_start = '2026-02-01'"
    ).fetchone()
    assert nrr == Decimal("45") / Decimal("40")
    assert grr == Decimal("25") / Decimal("40")


def test_trailing_ndr_and_gdr(raw):
    # Base (2025-01): c1 100.00 and c2 100.00. In 2026-01 c1 pays 150.00 and c2 has churned;
    # c3, new in 2025-06, is not in the base.
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2025-01-05T00:00:00",
                                items=[(price(10000), 1)])
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2025-12-05T00:00:00",
                                items=[(price(15000), 1)])
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2025-01-05T00:00:00",
                                items=[(price(10000), 1)])
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2025-08-05T00:00:00",
                                status="canceled", items=[(price(10000), 1)])
    insert_subscription_version(raw, subscription_id="s3", customer_id="c3", updated="2025-06-05T00:00:00",
                                items=[(price(10000), 1)])
    _rates(raw)
    ndr, gdr, base = raw.execute(
        "select ndr_trailing_12m, gdr_trailing_12m, trailing_12m_base_customers "
        "from analytics.ndr_monthly where month_start = '2026-01-01'"
    ).fetchone()
    assert base == 2
    assert ndr == Decimal("150") / Decimal("200")
    assert gdr == Decimal("100") / Decimal("200")
    early = raw.execute("select ndr_trailing_12m from analytics.ndr_monthly where month_start = '2025-06-01'")
    assert early.fetchone() == (None,)


def test_cohorts_are_dense_and_weighted(raw):
    # Cohort 2026-01: c1 (10.00) churns in February. Cohort 2026-02: c2 and c3 (10.00 each) stay.
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-01-05T00:00:00",
                                items=[(price(1000), 1)])
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-02-05T00:00:00",
                                status="canceled", items=[(price(1000), 1)])
    for number in (2, 3):
        insert_subscription_version(raw, subscription_id=f"s{number}", customer_id=f"c{number}",
                                    updated="2026-02-05T00:00:00", items=[(price(1000), 1)])
    _rates(raw)
    january_cohort = raw.execute(
        "select month_start::text, retained_customers, logo_retention from analytics.cohort_retention "
        "where cohort_month = '2026-01-01' order by month_start"
    ).fetchall()
    assert january_cohort == [
        ("2026-01-01", 1, Decimal(1)),
        ("2026-02-01", 0, Decimal(0)),
        ("2026-03-01", 0, Decimal(0)),
        ("2026-04-01", 0, Decimal(0)),
    ]
    one_month = raw.execute(
        "select logo_retention from analytics.cohort_retention_average where months_since_cohort = 1"
    ).fetchone()[0]
    assert one_month == pytest.approx(Decimal(2) / Decimal(3), abs=Decimal("1e-15"))


def _insert_cancellations(conn):
    """c1 requests on 02-20 to cancel at the period end (03-05); c2 cancels at once on 02-20."""
    one = [(price(1000), 1)]
    for subscription, customer in (("s1", "c1"), ("s2", "c2")):
        insert_subscription_version(conn, subscription_id=subscription, customer_id=customer,
                                    updated="2026-01-05T00:00:00", items=one,
                                    current_period_end=unix("2026-02-05T00:00:00"))
        insert_subscription_version(conn, subscription_id=subscription, customer_id=customer,
                                    updated="2026-02-05T00:00:00", items=one,
                                    current_period_end=unix("2026-03-05T00:00:00"))
    insert_subscription_version(conn, subscription_id="s1", customer_id="c1", updated="2026-02-20T00:00:00",
                                items=one, cancel_at_period_end=True, canceled_at=unix("2026-02-20T00:00:00"),
                                current_period_end=unix("2026-03-05T00:00:00"))
    insert_subscription_version(conn, subscription_id="s1", customer_id="c1", updated="2026-03-05T00:00:00",
                                status="canceled", items=one, canceled_at=unix("2026-02-20T00:00:00"),
                                ended_at=unix("2026-03-05T00:00:00"), current_period_end=unix("2026-03-05T00:00:00"))
    insert_subscription_version(conn, subscription_id="s2", customer_id="c2", updated="2026-02-20T00:00:00",
                                status="canceled", items=one, canceled_at=unix("2026-02-20T00:00:00"),
                                ended_at=unix("2026-02-20T00:00:00"), current_period_end=unix("2026-03-05T00:00:00"))


@pytest.mark.parametrize(
    ("timing", "churn_month_c1", "churn_month_c2"),
    [("ended", "2026-03-01", "2026-02-01"), ("scheduled", "2026-02-01", "2026-02-01"),
     ("paid_through", "2026-03-01", "2026-03-01")],
)
def test_churn_timing_moves_churn_month(raw, timing, churn_month_c1, churn_month_c2):
    _insert_cancellations(raw)
    raw.commit()
    run_models(raw, AS_OF, only=MRR_TASKS, params={"churn_timing": timing})
    churn_months = dict(raw.execute(
        "select customer_id, month_start::text from analytics.customer_mrr_monthly "
        "where movement = 'churn' and currency_basis = 'native'"
    ).fetchall())
    assert churn_months == {"c1": churn_month_c1, "c2": churn_month_c2}


def test_churn_timing_comparison_side_by_side(raw):
    _insert_cancellations(raw)
    _rates(raw)
    cursor = raw.execute("select * from analytics.churn_timing_comparison order by month_start")
    columns = [column.name for column in cursor.description]
    rows = {row[0].isoformat(): dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}
    assert rows["2026-02-01"]["ended_churned_customers"] == 1
    assert rows["2026-02-01"]["scheduled_churned_customers"] == 2
    assert rows["2026-02-01"]["paid_through_churned_customers"] == 0
    assert rows["2026-03-01"]["ended_churned_customers"] == 1
    assert rows["2026-03-01"]["paid_through_churned_customers"] == 2
    assert rows["2026-02-01"]["paid_through_mrr"] == Decimal("20")
    assert rows["2026-02-01"]["scheduled_churned_mrr"] == Decimal("20")


def test_history_is_rebuilt_from_invoice_lines(raw):
    from helpers.models import insert_invoice_line

    monthly = price(2000)
    # s1 was synced first on 03-10 (2 seats); January and February come from its invoices.
    insert_invoice_line(raw, line_id="il1", invoice_id="in1", customer_id="c1", subscription_id="s1",
                        period=("2026-01-10", "2026-02-10"), item_price=monthly)
    insert_invoice_line(raw, line_id="il2", invoice_id="in2", customer_id="c1", subscription_id="s1",
                        period=("2026-02-10", "2026-03-10"), item_price=monthly, discount_minor=500)
    insert_invoice_line(raw, line_id="il3", invoice_id="in2", customer_id="c1", subscription_id="s1",
                        period=("2026-02-20", "2026-03-10"), item_price=monthly, proration=True)
    insert_subscription_version(raw, subscription_id="s1", customer_id="c1", updated="2026-03-10T00:00:00",
                                items=[(monthly, 2)])
    # s2 ended before the first sync: only its invoices exist.
    insert_invoice_line(raw, line_id="il4", invoice_id="in4", customer_id="c2", subscription_id="s2",
                        period=("2026-01-01", "2026-02-01"), item_price=monthly)
    # A line with an interval the engine does not know is quarantined, not guessed.
    insert_invoice_line(raw, line_id="il5", invoice_id="in5", customer_id="c3", subscription_id="s3",
                        period=("2026-01-01", "2026-02-01"), item_price=price(2000, interval="fortnight"))
    _compute(raw)
    assert _customer_mrr(raw, "c1", "2026-01-01") == (Decimal("20"), "new")
    assert _customer_mrr(raw, "c1", "2026-02-01") == (Decimal("15"), "contraction")
    assert _customer_mrr(raw, "c1", "2026-03-01") == (Decimal("40"), "expansion")
    assert _customer_mrr(raw, "c2", "2026-01-01") == (Decimal("20"), "new")
    assert _customer_mrr(raw, "c2", "2026-02-01") == (Decimal("0"), "churn")
    reasons = raw.execute(
        "select record_key, reason from staging.quarantine where source_table = 'raw_stripe.invoice_line_items'"
    ).fetchall()
    assert reasons == [("in5/il5", "unknown billing interval fortnight")]
