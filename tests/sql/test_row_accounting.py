"""Every raw row is staged, quarantined with its reason, or collapsed, and the run records which.

Each source gets a usable record, a second copy of it (a retried sync), an older version of a
record, and rows staging must reject. The expected counts are written out by hand per source.
"""

from __future__ import annotations

import datetime as dt

import pytest

from helpers.models import (
    create_raw_tables,
    insert_aws_cost,
    insert_event,
    insert_fx_rate,
    insert_invoice_line,
    insert_raw,
    insert_subscription_version,
    insert_workspace,
    models_upstream_of,
    price,
    run_models,
    unix,
)

AS_OF = dt.datetime(2026, 3, 1, 7, tzinfo=dt.UTC)
ACCOUNTING_COLUMNS = "raw_rows, collapsed_rows, records, staged_rows, quarantined_rows, unaccounted_rows"


@pytest.fixture
def raw(warehouse_db):
    with warehouse_db.connect() as conn:
        run_models(conn, AS_OF, only={"setup_warehouse"})
        create_raw_tables(conn)
        yield conn


def _account(conn, **kwargs):
    conn.commit()
    run_models(conn, AS_OF, only=models_upstream_of("row_accounting"), **kwargs)
    rows = conn.execute(
        f"select source_table, {ACCOUNTING_COLUMNS} from analytics.row_accounting where as_of = %s",
        (AS_OF,),
    ).fetchall()
    return {source: tuple(counts) for source, *counts in rows}


def _reasons(conn, source_table):
    return sorted(
        conn.execute(
            "select record_key, reason from staging.quarantine where source_table = %s", (source_table,)
        ).fetchall()
    )


def _fill_every_source(conn):
    # Stripe customers: cus_1 twice (same version), cus_2 in two versions, one row without an id.
    for customer, updated in (("cus_1", "2026-01-01"), ("cus_1", "2026-01-01"), ("cus_2", "2026-01-01"),
                              ("cus_2", "2026-02-01"), (None, "2026-02-01")):
        insert_raw(conn, "raw_stripe.customers", {"id": customer, "updated": unix(updated), "currency": "usd"})
    # Invoices and lines: in_1 with two lines, one of which has an interval the engine does not
    # know; a line whose invoice never arrived; an invoice in an unknown currency.
    insert_invoice_line(conn, line_id="il_1", invoice_id="in_1", customer_id="cus_1", subscription_id="sub_1",
                        period=("2026-01-01", "2026-02-01"), item_price=price(1000))
    insert_invoice_line(conn, line_id="il_2", invoice_id="in_1", customer_id="cus_1", subscription_id="sub_1",
                        period=("2026-01-01", "2026-02-01"), item_price=price(1000, interval="fortnight"))
    insert_invoice_line(conn, line_id="il_3", invoice_id="in_9", customer_id="cus_1", subscription_id="sub_1",
                        period=("2026-01-01", "2026-02-01"), item_price=price(1000))
    conn.execute("delete from raw_stripe.invoices where id = 'in_9'")
    insert_invoice_line(conn, line_id="il_4", invoice_id="in_4", customer_id="cus_2", subscription_id="sub_2",
                        period=("2026-01-01", "2026-02-01"), item_price=price(1000, currency="xxx"))
    # Subscriptions: one good version, the same version again, one without items.
    for items in ([(price(1000), 1)], [(price(1000), 1)], []):
        insert_subscription_version(conn, subscription_id="sub_1", customer_id="cus_1",
                                    updated="2026-01-01T00:00:00" if items else "2026-01-15T00:00:00", items=items)
    insert_subscription_version(conn, subscription_id=None, customer_id="cus_1", updated="2026-01-20T00:00:00",
                                items=[(price(1000), 1)])
    # A version with two items is two item versions.
    insert_subscription_version(conn, subscription_id="sub_2", customer_id="cus_2", updated="2026-01-20T00:00:00",
                                items=[(price(1000), 1), (price(500), 2)])
    # Product: workspace 1 extracted twice, a workspace without a creation time; a user
    # without a workspace; events with a retried copy and one without a user.
    insert_workspace(conn, 1, created_at="2026-01-01 00:00:00")
    insert_workspace(conn, 1, created_at="2026-01-01 00:00:00")
    insert_raw(conn, "raw_product.workspaces", {"id": 2, "name": "No time"})
    insert_raw(conn, "raw_product.users", {"id": 10, "workspace_id": 1, "created_at": "2026-01-02 00:00:00"})
    insert_raw(conn, "raw_product.users", {"id": 11, "created_at": "2026-01-02 00:00:00"})
    insert_event(conn, 100, workspace_id=1, user_id=10, occurred_at="2026-02-10 10:00:00")
    insert_event(conn, 100, workspace_id=1, user_id=10, occurred_at="2026-02-10 10:00:00")
    insert_raw(conn, "raw_product.events", {"id": 101, "workspace_id": 1, "event_name": "report_create",
                                            "occurred_at": "2026-02-10 11:00:00"})
    # Segment, Salesforce and Zendesk: a good row, its retried copy, two rows without an id.
    for table, key, extra in (
        ("raw_segment.tracks", "id", {"timestamp": "2026-02-01T00:00:00Z", "event": "Signed Up"}),
        ("raw_salesforce.account", "Id", {"Name": "Acme"}),
        ("raw_salesforce.opportunity", "Id", {"Name": "Acme renewal"}),
        ("raw_zendesk.tickets", "id", {"subject": "Login fails"}),
    ):
        value = 7 if table == "raw_zendesk.tickets" else "rec_7"
        for record in (value, value, None, None):
            insert_raw(conn, table, {key: record, **extra})
    # AWS: an estimate superseded by the final figure, and a cost in EUR.
    insert_aws_cost(conn, "2026-02-01", "Amazon EC2", "10.00")
    conn.execute("update raw_aws_cost.cost_and_usage set _airbyte_extracted_at = '2025-12-31', estimated = true")
    insert_aws_cost(conn, "2026-02-01", "Amazon EC2", "12.00")
    insert_aws_cost(conn, "2026-02-01", "Amazon S3", "5.00", unit="EUR")
    # FX: a rate twice, February with two different rates for EUR, a rate of zero.
    for month, currency, rate in (("2026-01-01", "eur", "1.10"), ("2026-01-01", "EUR", "1.1"),
                                  ("2026-02-01", "eur", "1.08"), ("2026-02-01", "eur", "1.09"),
                                  ("2026-01-01", "gbp", "0")):
        insert_fx_rate(conn, month, currency, rate)


def test_every_source_balances_with_copies_versions_and_rejects(raw):
    _fill_every_source(raw)
    accounting = _account(raw)
    # (raw rows, collapsed, records, staged, quarantined, unaccounted)
    assert accounting == {
        "raw_stripe.customers": (5, 2, 3, 2, 1, 0),
        "raw_stripe.invoices": (2, 0, 2, 1, 1, 0),
        "raw_stripe.invoice_line_items": (4, 0, 4, 1, 3, 0),
        "raw_stripe.subscriptions": (5, 1, 5, 3, 2, 0),
        "raw_product.workspaces": (3, 1, 2, 1, 1, 0),
        "raw_product.users": (2, 0, 2, 1, 1, 0),
        "raw_product.events": (3, 1, 2, 1, 1, 0),
        "raw_segment.tracks": (4, 1, 3, 1, 2, 0),
        "raw_salesforce.account": (4, 1, 3, 1, 2, 0),
        "raw_salesforce.opportunity": (4, 1, 3, 1, 2, 0),
        "raw_zendesk.tickets": (4, 1, 3, 1, 2, 0),
        "raw_aws_cost.cost_and_usage": (3, 1, 2, 1, 1, 0),
        "raw_finance.fx_rates_monthly": (5, 1, 4, 1, 3, 0),
    }


def test_rejected_rows_keep_key_and_reason(raw):
    _fill_every_source(raw)
    _account(raw)
    assert _reasons(raw, "raw_stripe.customers") == [("missing key", "missing id")]
    assert _reasons(raw, "raw_stripe.invoices") == [("in_4", "unknown currency xxx")]
    assert _reasons(raw, "raw_stripe.invoice_line_items") == [
        ("in_1/il_2", "unknown billing interval fortnight"),
        ("in_4/il_4", "invoice not staged in_4"),
        ("in_9/il_3", "invoice not staged in_9"),
    ]
    assert _reasons(raw, "raw_stripe.subscriptions") == [
        ("missing key", "missing id"),
        ("sub_1/no items", "version without items"),
    ]
    assert _reasons(raw, "raw_product.workspaces") == [("2", "missing created_at")]
    assert _reasons(raw, "raw_product.users") == [("11", "missing workspace")]
    assert _reasons(raw, "raw_product.events") == [("101", "missing user")]
    assert _reasons(raw, "raw_zendesk.tickets") == [("missing key", "missing id")] * 2
    assert _reasons(raw, "raw_aws_cost.cost_and_usage") == [("2026-02-01/Amazon S3", "cost unit is not USD: EUR")]
    assert _reasons(raw, "raw_finance.fx_rates_monthly") == [
        ("2026-01-01/gbp/0", "rate is not positive: 0"),
        ("2026-02-01/eur/1.08", "2 different rates for this month and currency"),
        ("2026-02-01/eur/1.09", "2 different rates for this month and currency"),
    ]
    staged = raw.execute("select cost_usd, is_estimated from staging.aws_costs_daily").fetchall()
    assert [(str(cost), estimated) for cost, estimated in staged] == [("12.000000000", False)]


def test_conflicting_fx_rates_stop_the_month_instead_of_picking_one(raw):
    insert_subscription_version(raw, subscription_id="sub_1", customer_id="cus_1", updated="2026-02-05T00:00:00",
                                currency="eur", items=[(price(1000, currency="eur"), 1)])
    for rate in ("1.08", "1.09"):
        insert_fx_rate(raw, "2026-02-01", "eur", rate)
    raw.commit()
    with pytest.raises(Exception, match="Missing FX rate"):
        run_models(raw, AS_OF, only=models_upstream_of("customer_mrr_monthly"))


def test_a_rerun_replaces_the_quarantine_instead_of_adding_to_it(raw):
    _fill_every_source(raw)
    first = _account(raw)
    second = _account(raw)
    assert second == first
    total = raw.execute("select count(*) from staging.quarantine").fetchone()[0]
    assert total == sum(counts[4] for counts in first.values())


def test_rows_extracted_after_the_plan_wait_for_the_next_run(raw):
    insert_workspace(raw, 1, created_at="2026-01-01 00:00:00")
    insert_workspace(raw, 2, created_at="2026-01-01 00:00:00")
    raw.execute("update raw_product.workspaces set _airbyte_extracted_at = '2026-03-01T06:30:00Z' where id = 2")
    accounting = _account(raw, parameters={"extracted_until": "2026-03-01T06:00:00Z"})
    assert accounting["raw_product.workspaces"] == (1, 0, 1, 1, 0, 0)
    assert raw.execute("select workspace_id from staging.product_workspaces").fetchall() == [(1,)]


def test_incremental_events_quarantine_stays_whole_across_runs(raw):
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-01-05 10:00:00")
    insert_raw(raw, "raw_product.events", {"id": 2, "workspace_id": 1, "event_name": "report_create",
                                          "occurred_at": "2026-01-05 11:00:00"})
    insert_raw(raw, "raw_product.events", {"id": 3, "workspace_id": 1, "user_id": 1, "event_name": "x"})
    _account(raw)
    # A later run rewrites only February: January's staged and quarantined events stay.
    insert_event(raw, 4, workspace_id=1, user_id=1, occurred_at="2026-02-20 10:00:00")
    accounting = _account(raw, recompute_from="2026-02-01")
    assert accounting["raw_product.events"] == (4, 0, 4, 2, 2, 0)
    assert _reasons(raw, "raw_product.events") == [("2", "missing user"), ("3", "missing occurred_at")]


def test_corrected_event_leaves_the_quarantine(raw):
    insert_raw(raw, "raw_product.events", {"id": 7, "workspace_id": 1, "event_name": "report_create",
                                          "occurred_at": "2026-02-10 11:00:00"})
    _account(raw)
    assert _reasons(raw, "raw_product.events") == [("7", "missing user")]
    # The source sends the event again with its user; an incremental run reads February only.
    insert_event(raw, 7, workspace_id=1, user_id=10, occurred_at="2026-02-10 11:00:00")
    raw.execute("update raw_product.events set _airbyte_extracted_at = '2026-02-11' where user_id is not null")
    accounting = _account(raw, recompute_from="2026-02-01")
    assert _reasons(raw, "raw_product.events") == []
    assert accounting["raw_product.events"] == (2, 1, 1, 1, 0, 0)


def test_deleted_raw_event_leaves_the_quarantine(raw):
    insert_event(raw, 1, workspace_id=1, user_id=10, occurred_at="2026-02-10 10:00:00")
    insert_raw(raw, "raw_product.events", {"id": 2, "workspace_id": 1, "event_name": "report_create",
                                          "occurred_at": "2026-01-05 11:00:00"})
    _account(raw)
    raw.execute("delete from raw_product.events where id = 2")
    # The run reads February only, so it never reads the January row again.
    accounting = _account(raw, recompute_from="2026-02-01")
    assert _reasons(raw, "raw_product.events") == []
    assert accounting["raw_product.events"] == (1, 0, 1, 1, 0, 0)


def test_report_names_the_unaccounted_source(raw, caplog):
    from saas_metrics.row_accounting import report_row_accounting

    _fill_every_source(raw)
    _account(raw)
    raw.execute("delete from staging.segment_tracks")
    raw.commit()
    run_models(raw, AS_OF, only={"row_accounting"})
    with caplog.at_level("INFO", logger="saas_metrics.row_accounting"):
        report = report_row_accounting(raw, AS_OF)
    assert report["raw_segment.tracks"]["unaccounted_rows"] == 1
    assert report["raw_stripe.customers"]["unaccounted_rows"] == 0
    assert len(report) == 13
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [
        "raw_segment.tracks: 4 raw rows, 1 collapsed; 3 records = 0 staged + 2 quarantined + 1 unaccounted; "
        "counted: every record (a staging model dropped rows)"
    ]


def test_report_without_accounting_rows_fails(raw):
    from saas_metrics.row_accounting import report_row_accounting

    _account(raw)
    with pytest.raises(ValueError, match="has no rows for the run ending 2026-03-02"):
        report_row_accounting(raw, AS_OF + dt.timedelta(days=1))
