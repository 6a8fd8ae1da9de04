"""The shipped contracts on the daily DAG's models, built from hand-made raw rows.

Two customers pay 100.00 USD a month from January 2026. The run ends on 2026-03-15 07:00 UTC,
so February is the closed month and March the open one.
"""

from __future__ import annotations

import datetime as dt

import pytest

from helpers.models import (
    create_raw_tables,
    insert_fx_rate,
    insert_invoice_line,
    insert_raw,
    insert_subscription_version,
    models_upstream_of,
    price,
    run_models,
)
from helpers.quality import gate_context
from saas_metrics.operators.quality_gate import QualityGateOperator

AS_OF = dt.datetime(2026, 3, 15, 7, tzinfo=dt.UTC)
MONTHLY = price(10000)
STAGED_SUBSCRIPTIONS = ("stripe_subscription_items",)


@pytest.fixture
def raw(warehouse_db, monkeypatch):
    monkeypatch.setattr("saas_metrics.notifiers.quality.notify_quality_warnings", lambda context, warnings: None)
    with warehouse_db.connect() as conn:
        create_raw_tables(conn)
        for subscription, day in (("1", "2026-01-10"), ("2", "2026-01-12")):
            insert_subscription_version(
                conn,
                subscription_id=f"sub_{subscription}",
                customer_id=f"cus_{subscription}",
                updated=day,
                items=[(MONTHLY, 1)],
                extracted_at="2026-03-15T04:00:00Z",
            )
        yield conn


def _results(conn, contract, *models, exclude_checks=(), variables=None):
    """Build `models` and what they need, run the gate on one shipped contract, return {check: row}."""
    conn.commit()
    run_models(conn, AS_OF, only=models_upstream_of(*models))
    gate = QualityGateOperator(
        task_id="quality_gate",
        contracts=[contract],
        exclude_checks=exclude_checks,
        variables=variables,
        fail_on_blocking=False,
    )
    gate.execute(gate_context(end=AS_OF))
    rows = conn.execute(
        "select check_name, outcome, action, value from analytics.data_quality_results where contract = %s",
        (contract,),
    ).fetchall()
    return {name: {"outcome": outcome, "action": action, "value": value} for name, outcome, action, value in rows}


def test_stable_mrr_passes_every_check(raw):
    results = _results(raw, "analytics/mrr_monthly.yml", "mrr_monthly")
    assert {name: result["outcome"] for name, result in results.items() if result["outcome"] != "passed"} == {}
    assert results["mrr_continuity"]["value"] == 0


@pytest.mark.parametrize(
    ("variables", "outcome"),
    [({"recompute_from": "2026-02-01"}, "passed"), ({"recompute_from": "2026-01-01"}, "failed"), (None, "failed")],
)
def test_customer_mrr_checks_the_rewritten_months(raw, warehouse_db, variables, outcome):
    """A January row breaks the checks of the gates whose run rewrote January, or that had no plan."""
    contract = "analytics/customer_mrr_monthly.yml"
    assert _results(raw, contract, "customer_mrr_monthly")["customer_month_is_unique"]["outcome"] == "passed"
    raw.execute(
        "insert into analytics.customer_mrr_monthly select * from analytics.customer_mrr_monthly "
        "where month_start = '2026-01-01' and customer_id = 'cus_1'"
    )
    raw.commit()
    gate = QualityGateOperator(
        task_id="quality_gate", contracts=[contract], variables=variables, fail_on_blocking=False
    )
    gate.execute(gate_context(end=AS_OF))
    assert warehouse_db.query(
        "select outcome from analytics.data_quality_results where check_name = 'customer_month_is_unique' "
        "order by recorded_at desc limit 1"
    ) == [(outcome,)]


@pytest.mark.parametrize(
    ("extracted_since_by_table", "outcome"),
    [
        ('{"raw_product.events": "2026-03-14T04:00:00+00:00"}', "passed"),
        ({"raw_product.events": "2026-03-01T00:00:00+00:00"}, "warn"),
        # Another table's instant does not narrow the events' check.
        ({"raw_segment.tracks": "2026-03-14T04:00:00+00:00"}, "warn"),
        (None, "warn"),
    ],
)
def test_raw_events_since_last_run(raw, warehouse_db, extracted_since_by_table, outcome):
    """Events without a user, extracted on 2026-03-10, warn in the gates whose run read them again."""
    for number in range(60):
        insert_raw(
            raw,
            "raw_product.events",
            {
                "id": number,
                "workspace_id": 1,
                "user_id": None if number < 3 else 7,
                "event_name": "page_view",
                "occurred_at": "2026-03-10 12:00:00",
                "_airbyte_extracted_at": "2026-03-10T13:00:00Z" if number < 30 else "2026-03-15T05:00:00Z",
            },
        )
    raw.commit()
    gate = QualityGateOperator(
        task_id="quality_gate",
        contracts=["raw_product/events.yml"],
        extracted_since_by_table=extracted_since_by_table,
        fail_on_blocking=False,
    )
    gate.execute(gate_context(end=AS_OF))
    rows = warehouse_db.query(
        "select check_name, outcome, value from analytics.data_quality_results where contract = %s",
        ("raw_product/events.yml",),
    )
    results = {name: (result, value) for name, result, value in rows}
    assert results["user_id_null_rate"][0] == outcome
    # 3 of the 60 rows, or none of the 30 extracted after 2026-03-14.
    assert results["user_id_null_rate"][1] == (0 if outcome == "passed" else 5)
    assert results["freshness"][0] == "passed"


@pytest.mark.parametrize("value", ["{not json", '["2026-03-14"]', {"raw_product.events": 5}])
def test_invalid_extracted_since_by_table(raw, value):
    gate = QualityGateOperator(
        task_id="quality_gate", contracts=["raw_product/events.yml"], extracted_since_by_table=value
    )
    with pytest.raises(ValueError, match="extracted_since_by_table"):
        gate.execute(gate_context(end=AS_OF))


def test_mrr_jump_fails_continuity(raw):
    insert_subscription_version(
        raw, subscription_id="sub_3", customer_id="cus_3", updated="2026-02-05", items=[(price(5000), 1)]
    )
    continuity = _results(raw, "analytics/mrr_monthly.yml", "mrr_monthly")["mrr_continuity"]
    assert continuity["outcome"] == "failed"
    assert continuity["action"] == "block"
    assert continuity["value"] == pytest.approx(0.25)


def test_missing_previous_month_blocks_continuity(raw):
    raw.execute("update raw_stripe.subscriptions set updated = extract(epoch from timestamptz '2026-02-10')")
    continuity = _results(raw, "analytics/mrr_monthly.yml", "mrr_monthly")["mrr_continuity"]
    assert continuity["outcome"] == "not_evaluated"
    assert continuity["action"] == "block"


def test_mrr_bridge_holds(raw):
    bridge = _results(raw, "analytics/mrr_monthly.yml", "mrr_monthly")["mrr_bridge_holds"]
    assert bridge["outcome"] == "passed"
    assert bridge["value"] == 0


def test_row_accounting_balances_with_duplicates_and_rejects(raw):
    insert_subscription_version(  # a second copy of sub_1's version, from a retried sync
        raw,
        subscription_id="sub_1",
        customer_id="cus_1",
        updated="2026-01-10",
        items=[(MONTHLY, 1)],
        extracted_at="2026-03-15T05:00:00Z",
    )
    insert_subscription_version(  # quarantined: unknown currency
        raw,
        subscription_id="sub_4",
        customer_id="cus_4",
        updated="2026-02-01",
        items=[(price(100, "xxx"), 1)],
        currency="xxx",
        extracted_at="2026-03-15T04:00:00Z",
    )
    insert_subscription_version(  # quarantined: a version without items
        raw,
        subscription_id="sub_5",
        customer_id="cus_5",
        updated="2026-02-01",
        items=[],
        extracted_at="2026-03-15T04:00:00Z",
    )
    results = _results(raw, "analytics/row_accounting.yml", "row_accounting")
    assert results["every_raw_row_accounted_for"] == {"outcome": "passed", "action": "pass", "value": 0}
    assert results["rows_quarantined"]["outcome"] == "warn"
    assert results["rows_quarantined"]["value"] == 2
    subscriptions = raw.execute(
        "select raw_rows, collapsed_rows, records, staged_rows, quarantined_rows from analytics.row_accounting "
        "where source_table = 'raw_stripe.subscriptions'"
    ).fetchone()
    assert subscriptions == (5, 1, 4, 2, 2)


def test_lost_staged_row_fails_accounting(raw):
    raw.commit()
    run_models(raw, AS_OF, only=models_upstream_of("row_accounting"))
    raw.execute("delete from staging.stripe_subscription_items where subscription_id = 'sub_2'")
    raw.commit()
    run_models(raw, AS_OF, only={"row_accounting"})
    gate = QualityGateOperator(
        task_id="quality_gate", contracts=["analytics/row_accounting.yml"], fail_on_blocking=False
    )
    summary = gate.execute(gate_context(end=AS_OF))
    assert [(record["check_name"], record["value"]) for record in summary["blocking"]] == [
        ("every_raw_row_accounted_for", 1)
    ]


def test_run_without_accounting_rows_is_blocked(raw):
    raw.commit()
    run_models(raw, AS_OF, only=models_upstream_of("row_accounting"))
    gate = QualityGateOperator(
        task_id="quality_gate", contracts=["analytics/row_accounting.yml"], fail_on_blocking=False
    )
    # The accounting of 2026-03-15 exists, that of the next day's run does not.
    summary = gate.execute(gate_context(end=AS_OF + dt.timedelta(days=1)))
    assert [record["check_name"] for record in summary["blocking"]] == ["every_raw_row_accounted_for"]


@pytest.mark.parametrize(
    ("extracted_at", "outcome"),
    [("2026-03-15T04:00:00Z", "passed"), ("2026-03-14T21:00:00Z", "warn"), ("2026-03-13T01:00:00Z", "failed")],
    ids=["3 hours", "10 hours", "54 hours"],
)
def test_stripe_freshness_levels(raw, extracted_at, outcome):
    raw.execute("update raw_stripe.subscriptions set _airbyte_extracted_at = %s", (extracted_at,))
    freshness = _results(raw, "raw_stripe/subscriptions.yml", *STAGED_SUBSCRIPTIONS)["freshness"]
    assert freshness["outcome"] == outcome


def _invoice_march(conn, subscription, day, item_price=MONTHLY):
    insert_invoice_line(
        conn,
        line_id=f"il_{subscription}",
        invoice_id=f"in_{subscription}",
        customer_id=f"cus_{subscription}",
        subscription_id=f"sub_{subscription}",
        period=(f"2026-03-{day}", f"2026-04-{day}"),
        item_price=item_price,
        billing_reason="subscription_cycle",
    )


def test_invoices_matching_engine_pass_stripe_reconciliation(raw):
    _invoice_march(raw, "1", "10")
    _invoice_march(raw, "2", "12")
    reconciliation = _results(raw, "analytics/mrr_reconciliation.yml", "mrr_reconciliation")["stripe_reconciliation"]
    assert reconciliation["outcome"] == "passed"


def test_missing_invoice_warns_stripe_reconciliation(raw):
    _invoice_march(raw, "1", "10")
    reconciliation = _results(raw, "analytics/mrr_reconciliation.yml", "mrr_reconciliation")["stripe_reconciliation"]
    assert reconciliation["outcome"] == "warn"
    assert reconciliation["action"] == "warn"
    assert reconciliation["value"] == 1


@pytest.mark.parametrize(
    ("finance_arr", "outcome"),
    [("2400", "passed"), ("2390", "passed"), ("2380", "failed")],
    ids=["0 %", "0.42 %", "0.84 %"],
)
def test_arr_matches_finance_threshold(raw, finance_arr, outcome):
    raw.execute(
        "insert into raw_finance.arr_reported (month, reported_arr_usd, reported_at) values ('2026-02-01', %s, now())",
        (finance_arr,),
    )
    check = _results(raw, "analytics/arr_reconciliation.yml", "arr_reconciliation")["arr_matches_finance"]
    assert check["outcome"] == outcome


def test_unreported_month_blocks_arr_check(raw):
    check = _results(raw, "analytics/arr_reconciliation.yml", "arr_reconciliation")["arr_matches_finance"]
    assert check["outcome"] == "not_evaluated"
    assert check["action"] == "block"


def test_small_currency_gap_is_weighted(raw):
    """A 10 % gap in a currency with 5 % of the MRR stays under the 2 % warning."""
    insert_subscription_version(
        raw,
        subscription_id="sub_3",
        customer_id="cus_3",
        updated="2026-03-02",
        items=[(price(1000, "eur"), 1)],
        currency="eur",
    )
    insert_fx_rate(raw, "2026-03-01", "eur", "1.1")
    _invoice_march(raw, "1", "10")
    _invoice_march(raw, "2", "12")
    _invoice_march(raw, "3", "02", item_price=price(900, "eur"))
    reconciliation = _results(raw, "analytics/mrr_reconciliation.yml", "mrr_reconciliation")["stripe_reconciliation"]
    assert reconciliation["outcome"] == "passed"
    assert float(reconciliation["value"]) == pytest.approx(1.1 / 209.9)
