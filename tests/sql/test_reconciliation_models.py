"""analytics.mrr_reconciliation and analytics.arr_reconciliation on hand-checked inputs.

One customer pays 100.00 USD a month from 2026-01-10, so the engine's MRR is 100 in every month
and its ARR 1,200. The run ends on 2026-03-15 07:00 UTC: January and February are closed and
March is open.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from helpers.models import (
    create_raw_tables,
    insert_fx_rate,
    insert_invoice_line,
    insert_subscription_version,
    models_upstream_of,
    price,
    run_models,
)

AS_OF = dt.datetime(2026, 3, 15, 7, tzinfo=dt.UTC)
JANUARY = dt.date(2026, 1, 1)
FEBRUARY = dt.date(2026, 2, 1)
MARCH = dt.date(2026, 3, 1)
MONTHLY = price(10000)
MODELS = models_upstream_of("mrr_reconciliation", "arr_reconciliation")


@pytest.fixture
def raw(warehouse_db):
    with warehouse_db.connect() as conn:
        create_raw_tables(conn)
        insert_subscription_version(
            conn, subscription_id="sub_1", customer_id="cus_1", updated="2026-01-10", items=[(MONTHLY, 1)]
        )
        yield conn


def _invoice_cycle(conn, period, item_price=MONTHLY, invoice_id=None, **kwargs):
    kwargs.setdefault("billing_reason", "subscription_cycle")
    invoice_id = invoice_id or f"in_{period[0]}"
    insert_invoice_line(
        conn,
        line_id=f"il_{invoice_id}",
        invoice_id=invoice_id,
        customer_id="cus_1",
        subscription_id="sub_1",
        period=period,
        item_price=item_price,
        **kwargs,
    )


def _reconciliation(raw, month, parameters=None):
    raw.commit()
    run_models(raw, AS_OF, only=MODELS, parameters=parameters)
    row = raw.execute(
        "select engine_mrr, invoiced_mrr, difference, difference_ratio from analytics.mrr_reconciliation "
        "where month_start = %s and currency = 'usd'",
        (month,),
    ).fetchone()
    return dict(zip(("engine", "invoiced", "difference", "ratio"), row, strict=True))


def test_paid_cycle_line_matches_engine(raw):
    _invoice_cycle(raw, ("2026-01-10", "2026-02-10"))
    january = _reconciliation(raw, JANUARY)
    assert january["invoiced"] == 100
    assert january["difference"] == 0


def test_line_counts_where_snapshot_falls(raw):
    _invoice_cycle(raw, ("2026-01-10", "2026-02-10"))
    assert _reconciliation(raw, FEBRUARY)["invoiced"] == 0


def test_yearly_line_counts_one_twelfth(raw):
    _invoice_cycle(raw, ("2026-01-10", "2027-01-10"), item_price=price(120000, interval="year"))
    assert _reconciliation(raw, FEBRUARY)["invoiced"] == 100


def test_open_month_uses_run_snapshot(raw):
    _invoice_cycle(raw, ("2026-03-10", "2026-04-10"))
    assert _reconciliation(raw, MARCH)["invoiced"] == 100


def test_unpaid_invoice_is_not_counted(raw):
    _invoice_cycle(raw, ("2026-01-10", "2026-02-10"), invoice_status="open")
    assert _reconciliation(raw, JANUARY)["invoiced"] == 0


def test_proration_is_not_counted(raw):
    _invoice_cycle(raw, ("2026-01-10", "2026-02-10"), proration=True)
    assert _reconciliation(raw, JANUARY)["invoiced"] == 0


def test_manual_invoice_is_not_counted(raw):
    _invoice_cycle(raw, ("2026-01-10", "2026-02-10"), billing_reason="manual")
    assert _reconciliation(raw, JANUARY)["invoiced"] == 0


def test_first_period_invoice_is_counted(raw):
    _invoice_cycle(raw, ("2026-01-10", "2026-02-10"), billing_reason="subscription_create")
    assert _reconciliation(raw, JANUARY)["invoiced"] == 100


def test_discount_reduces_invoiced_mrr(raw):
    _invoice_cycle(raw, ("2026-01-10", "2026-02-10"), discount_minor=2000)
    assert _reconciliation(raw, JANUARY)["invoiced"] == 80


def test_difference_ratio_is_relative_to_invoiced(raw):
    _invoice_cycle(raw, ("2026-01-10", "2026-02-10"), item_price=price(8000))
    january = _reconciliation(raw, JANUARY)
    assert january["difference"] == 20
    assert january["ratio"] == Decimal("0.25")


def test_nothing_invoiced_has_no_ratio(raw):
    january = _reconciliation(raw, JANUARY)
    assert january["invoiced"] == 0
    assert january["ratio"] is None


def _insert_finance(conn, month, arr, reported_at):
    conn.execute(
        "insert into raw_finance.arr_reported (month, reported_arr_usd, reported_at) values (%s, %s, %s)",
        (month, arr, reported_at),
    )


def _arr_rows(raw, parameters=None):
    raw.commit()
    run_models(raw, AS_OF, only=MODELS, parameters=parameters)
    rows = raw.execute(
        "select month_start, engine_arr_usd, finance_arr_usd, has_finance_report, difference_usd, difference_ratio "
        "from analytics.arr_reconciliation order by month_start"
    ).fetchall()
    keys = ("engine", "finance", "has_finance_report", "difference", "ratio")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def test_arr_difference_against_finance(raw):
    _insert_finance(raw, "2026-01-01", "1194", "2026-02-03T00:00:00Z")
    january = _arr_rows(raw)[JANUARY]
    assert january["engine"] == 1200
    assert january["finance"] == 1194
    assert january["difference"] == 6
    assert round(january["ratio"], 12) == round(Decimal(6) / Decimal(1194), 12)


def test_missing_finance_report_stays_null(raw):
    february = _arr_rows(raw)[FEBRUARY]
    assert february["finance"] is None
    assert february["has_finance_report"] is False
    assert february["difference"] is None
    assert february["ratio"] is None


def test_latest_finance_report_wins(raw):
    _insert_finance(raw, "2026-01-01", "1000", "2026-02-03T00:00:00Z")
    _insert_finance(raw, "2026-01-01", "1200", "2026-02-10T00:00:00Z")
    assert _arr_rows(raw)[JANUARY]["finance"] == 1200


def test_open_month_is_not_reconciled(raw):
    _insert_finance(raw, "2026-03-01", "1200", "2026-03-10T00:00:00Z")
    assert MARCH not in _arr_rows(raw)


def test_finance_month_without_engine_is_shown(raw):
    _insert_finance(raw, "2025-12-01", "900", "2026-01-03T00:00:00Z")
    december = _arr_rows(raw)[dt.date(2025, 12, 1)]
    assert december["engine"] is None
    assert december["finance"] == 900


def test_reporting_currency_converted_to_usd(raw):
    for month in ("2026-01-01", "2026-02-01", "2026-03-01"):
        insert_fx_rate(raw, month, "eur", "1.25")
    january = _arr_rows(raw, parameters={"reporting_currency": "EUR"})[JANUARY]
    assert january["engine"] == 1200
