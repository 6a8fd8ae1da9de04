"""The public dbt-labs/mrr-playbook seed through the engine, against the playbook's own rules.

The playbook classifies each customer-month as new, churn, reactivation, upgrade or downgrade
from subscription periods [start_date, end_date) on month starts, with a month spine that
starts at 2018-01-01. The expected values are derived here from the CSV with those rules, in
plain Python; the engine gets the same periods as Stripe-like subscription versions (an
active version at the start, a canceled one at the end), clipped to the spine's first month.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from helpers.models import create_raw_tables, insert_subscription_version, models_upstream_of, price, run_models

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "mrr_playbook" / "subscription_periods.csv"
SPINE_START = dt.date(2018, 1, 1)
AS_OF = dt.datetime(2020, 3, 1, tzinfo=dt.UTC)
PLAYBOOK_CATEGORY = {"upgrade": "expansion", "downgrade": "contraction"}


def _periods():
    with SEED.open() as handle:
        for row in csv.DictReader(handle):
            start = max(dt.date.fromisoformat(row["start_date"]), SPINE_START)
            end = dt.date.fromisoformat(row["end_date"])
            if end > start:
                yield row["subscription_id"], row["customer_id"], start, end, Decimal(row["monthly_amount"])


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def playbook_movements() -> dict[tuple[str, dt.date], tuple[Decimal, str]]:
    """(customer, month) -> (mrr, category) by the playbook's rules and precedence."""
    revenue: dict[str, dict[dt.date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for _, customer, start, end, amount in _periods():
        month = start
        while month < end:
            revenue[customer][month] += amount
            month = _next_month(month)
    last_month = dt.date(2020, 2, 1)
    result = {}
    for customer, months in revenue.items():
        first = min(months)
        month, previous = first, Decimal(0)
        while month <= last_month:
            current = months.get(month, Decimal(0))
            if current > 0 and month == first:
                category = "new"
            elif current == 0 and previous > 0:
                category = "churn"
            elif current > 0 and previous == 0:
                category = "reactivation"
            elif current > previous:
                category = "upgrade"
            elif current < previous:
                category = "downgrade"
            else:
                category = None
            if current > 0 or previous > 0:
                result[(customer, month)] = (current, category)
            month, previous = _next_month(month), current
    return result


@pytest.fixture(scope="module")
def engine_rows(pg_server):
    import psycopg

    name = "playbook"
    with psycopg.connect(**pg_server.conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    with psycopg.connect(**pg_server.conninfo(name)) as conn:
        run_models(conn, AS_OF, only={"setup_warehouse"})
        create_raw_tables(conn)
        for subscription, customer, start, end, amount in _periods():
            items = [(price(int(amount * 100)), 1)]
            insert_subscription_version(conn, subscription_id=subscription, customer_id=customer,
                                        updated=f"{start}T00:00:00", items=items)
            insert_subscription_version(conn, subscription_id=subscription, customer_id=customer,
                                        updated=f"{end}T00:00:00", status="canceled", items=items)
        conn.commit()
        run_models(conn, AS_OF, only=models_upstream_of("mrr_monthly"))
        rows = conn.execute(
            "select customer_id, month_start, mrr, movement from analytics.customer_mrr_monthly "
            "where currency_basis = 'native'"
        ).fetchall()
        totals = conn.execute(
            "select month_start, mrr, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr "
            "from analytics.mrr_monthly where currency_basis = 'native'"
        ).fetchall()
    return {"rows": rows, "totals": totals}


def test_playbook_seed_is_complete():
    with SEED.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 121
    assert len({row["customer_id"] for row in rows}) == 55


def test_customer_months_match_playbook(engine_rows):
    expected = playbook_movements()
    actual = {(customer, month): (mrr, movement) for customer, month, mrr, movement in engine_rows["rows"]}
    assert set(actual) == set(expected)
    mismatches = {
        key: (actual[key], value)
        for key, value in expected.items()
        if actual[key][0] != value[0] or actual[key][1] != PLAYBOOK_CATEGORY.get(value[1], value[1] or "none")
    }
    assert mismatches == {}


def test_monthly_totals_match_playbook(engine_rows):
    expected = defaultdict(lambda: defaultdict(Decimal))
    for (_, month), (mrr, _category) in playbook_movements().items():
        expected[month]["mrr"] += mrr
    previous_by_customer = {}
    for (customer, month), (mrr, category) in sorted(playbook_movements().items(), key=lambda item: item[0][1]):
        before = previous_by_customer.get(customer, Decimal(0)) if category != "new" else Decimal(0)
        if category:
            expected[month][PLAYBOOK_CATEGORY.get(category, category)] += abs(mrr - before)
        previous_by_customer[customer] = mrr
    for month, mrr, new, expansion, contraction, churn, reactivation in engine_rows["totals"]:
        assert mrr == expected[month]["mrr"], month
        assert new == expected[month]["new"], month
        assert expansion == expected[month]["expansion"], month
        assert contraction == expected[month]["contraction"], month
        assert churn == expected[month]["churn"], month
        assert reactivation == expected[month]["reactivation"], month
