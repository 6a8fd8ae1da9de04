"""Incremental runs: which months a run recomputes, and that the result equals a full rebuild."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from helpers.models import (
    create_raw_tables,
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
from saas_metrics.config import load_metrics_config
from saas_metrics.incremental import plan_recompute, save_pipeline_state

DAY_ONE = dt.datetime(2026, 3, 10, 7, tzinfo=dt.UTC)
DAY_TWO = dt.datetime(2026, 3, 11, 7, tzinfo=dt.UTC)
MRR_MODELS = models_upstream_of("mrr_monthly", "compute_ndr", "churn_timing_comparison", "compute_segments")
ALL_INCREMENTAL_MODELS = MRR_MODELS | models_upstream_of("compute_product_metrics", "infrastructure_cost_daily")
COMPARED_TABLES = (
    "analytics.customer_mrr_monthly",
    "analytics.mrr_monthly",
    "analytics.ndr_monthly",
    "analytics.churn_timing_comparison",
    "analytics.segment_metrics",
)


@pytest.fixture
def raw(warehouse_db):
    with warehouse_db.connect() as conn:
        run_models(conn, DAY_ONE, only={"setup_warehouse"})
        create_raw_tables(conn)
        for number in range(1, 4):
            insert_subscription_version(conn, subscription_id=f"s{number}", customer_id=f"c{number}",
                                        updated="2025-10-05T00:00:00", extracted_at="2025-10-05T01:00:00",
                                        items=[(price(1000 * number), 1)])
        insert_subscription_version(conn, subscription_id="s1", customer_id="c1", updated="2026-01-15T00:00:00",
                                    extracted_at="2026-01-15T01:00:00", items=[(price(1000), 4)])
        conn.commit()
        yield conn


def _daily_run(conn, as_of, config=None, models=MRR_MODELS):
    """Plan, write the planned months, and save state, as one successful daily run does."""
    plan = plan_recompute(
        conn,
        data_interval_start=as_of - dt.timedelta(days=1),
        data_interval_end=as_of,
        config=config or load_metrics_config(),
    )
    conn.commit()
    run_models(conn, as_of, only=models, plan=plan.as_xcom())
    save_pipeline_state(conn, plan.as_xcom())
    return plan


def _snapshot(conn, tables=COMPARED_TABLES):
    """Every compared table without `as_of`, which records the run that last wrote a month."""
    snapshot = {}
    for table in tables:
        schema, name = table.split(".")
        columns = [
            row[0]
            for row in conn.execute(
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
                "and column_name <> 'as_of' order by ordinal_position",
                (schema, name),
            ).fetchall()
        ]
        snapshot[table] = sorted(conn.execute(f"select {', '.join(columns)} from {table}").fetchall(), key=repr)
    return snapshot


def test_first_run_rebuilds_everything(raw):
    plan = _daily_run(raw, DAY_ONE)
    assert plan.is_full_rebuild is True
    assert raw.execute("select min(month_start)::text from analytics.mrr_monthly").fetchone()[0] == "2025-10-01"


def test_rerun_recomputes_only_open_month(raw):
    _daily_run(raw, DAY_ONE)
    plan = _daily_run(raw, DAY_ONE)
    assert plan.is_full_rebuild is False
    assert plan.recompute_from == "2026-03-01"


def test_late_version_reopens_its_month(raw):
    _daily_run(raw, DAY_ONE)
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2025-12-20T00:00:00",
                                extracted_at="2026-03-10T12:00:00", items=[(price(2000), 3)])
    raw.commit()
    plan = _daily_run(raw, DAY_TWO)
    assert plan.recompute_from == "2025-12-01"
    assert any("raw_stripe.subscriptions" in reason for reason in plan.reasons)


def test_changed_fx_rate_reopens_its_month(raw):
    insert_subscription_version(raw, subscription_id="s9", customer_id="c9", updated="2025-11-05T00:00:00",
                                extracted_at="2025-11-05T01:00:00", currency="eur",
                                items=[(price(1000, currency="eur"), 1)])
    for month in ("2025-11-01", "2025-12-01", "2026-01-01", "2026-02-01", "2026-03-01"):
        insert_fx_rate(raw, month, "eur", "1.10")
    raw.commit()
    _daily_run(raw, DAY_ONE)
    raw.execute("update raw_finance.fx_rates_monthly set rate_to_usd = 1.20 where month = '2026-01-01'")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO)
    assert plan.recompute_from == "2026-01-01"
    january = raw.execute(
        "select mrr from analytics.customer_mrr_monthly where customer_id = 'c9' "
        "and month_start = '2026-01-01' and currency_basis = 'reporting'"
    ).fetchone()[0]
    assert january == 12


def test_changed_convention_rebuilds_everything(raw):
    _daily_run(raw, DAY_ONE)
    changed = dataclasses.replace(load_metrics_config(), discount_policy="forever_only")
    plan = _daily_run(raw, DAY_TWO, config=changed)
    assert plan.is_full_rebuild is True


def test_incremental_equals_full_rebuild(raw, warehouse_db):
    _daily_run(raw, DAY_ONE)
    # New activity in the open month and a late correction in December, both extracted later.
    insert_subscription_version(raw, subscription_id="s3", customer_id="c3", updated="2026-03-10T09:00:00",
                                extracted_at="2026-03-10T10:00:00", status="canceled", items=[(price(3000), 1)])
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2025-12-20T00:00:00",
                                extracted_at="2026-03-10T12:00:00", items=[(price(2000), 3)])
    raw.commit()
    plan = _daily_run(raw, DAY_TWO)
    assert plan.is_full_rebuild is False
    incremental = _snapshot(raw)

    for table in COMPARED_TABLES:
        raw.execute(f"truncate {table}")
    raw.commit()
    run_models(raw, DAY_TWO, only=MRR_MODELS)
    assert _snapshot(raw) == incremental


def test_reactivation_equals_full_rebuild(raw):
    # c4 pays in October and November 2025 only. Its states end months before the window of
    # the incremental run, which reads only the states in force in the window, yet its
    # reactivation in March 2026 must keep the October cohort.
    insert_subscription_version(raw, subscription_id="s4", customer_id="c4", updated="2025-10-10T00:00:00",
                                extracted_at="2025-10-10T01:00:00", items=[(price(4000), 1)])
    insert_subscription_version(raw, subscription_id="s4", customer_id="c4", updated="2025-11-20T00:00:00",
                                extracted_at="2025-11-20T01:00:00", status="canceled", items=[(price(4000), 1)])
    raw.commit()
    _daily_run(raw, DAY_ONE)
    insert_subscription_version(raw, subscription_id="s4b", customer_id="c4", updated="2026-03-10T09:00:00",
                                extracted_at="2026-03-10T10:00:00", items=[(price(5000), 1)])
    raw.commit()
    plan = _daily_run(raw, DAY_TWO)
    assert plan.recompute_from == "2026-03-01"
    march = raw.execute(
        "select movement, cohort_month::text from analytics.customer_mrr_monthly "
        "where customer_id = 'c4' and month_start = '2026-03-01' and currency_basis = 'reporting'"
    ).fetchone()
    assert march == ("reactivation", "2025-10-01")
    incremental = _snapshot(raw)

    for table in COMPARED_TABLES:
        raw.execute(f"truncate {table}")
    raw.commit()
    run_models(raw, DAY_TWO, only=MRR_MODELS)
    assert _snapshot(raw) == incremental


def test_first_day_of_month_finalises_previous_month(raw):
    _daily_run(raw, dt.datetime(2026, 3, 31, 7, tzinfo=dt.UTC))
    plan = _daily_run(raw, dt.datetime(2026, 4, 1, 7, tzinfo=dt.UTC))
    march = raw.execute(
        "select is_provisional, snapshot_at from analytics.mrr_monthly "
        "where month_start = '2026-03-01' and currency_basis = 'reporting'"
    ).fetchone()
    assert plan.recompute_from == "2026-03-01"
    assert march == (False, dt.datetime(2026, 4, 1, tzinfo=dt.UTC))


def _product_day_one(conn, models=ALL_INCREMENTAL_MODELS):
    insert_workspace(conn, 1, created_at="2025-10-01 09:00:00", customer_id="c1")
    insert_raw(conn, "raw_product.users", {"id": 10, "workspace_id": 1, "created_at": "2025-10-01 09:00:00"})
    insert_event(conn, 1, workspace_id=1, user_id=10, occurred_at="2026-03-09 10:00:00")
    conn.execute("update raw_product.workspaces set _airbyte_extracted_at = '2025-10-01T10:00:00Z'")
    conn.execute("update raw_product.users set _airbyte_extracted_at = '2025-10-01T10:00:00Z'")
    conn.execute("update raw_product.events set _airbyte_extracted_at = '2026-03-09T11:00:00Z'")
    conn.commit()
    _daily_run(conn, DAY_ONE, models=models)


def _extracted_on_day_two(conn, table):
    conn.execute(f"update {table} set _airbyte_extracted_at = '2026-03-10T12:00:00Z' "
                 "where _airbyte_extracted_at = '2026-01-01T00:00:00Z'")
    conn.commit()


def test_late_product_event_reopens_product_months_but_not_mrr(raw):
    _product_day_one(raw)
    insert_event(raw, 2, workspace_id=1, user_id=10, occurred_at="2025-12-15 10:00:00")
    _extracted_on_day_two(raw, "raw_product.events")
    plan = _daily_run(raw, DAY_TWO, models=ALL_INCREMENTAL_MODELS)
    assert plan.recompute_from_by_domain == {
        "billing": "2026-03-01", "product": "2025-12-01", "accounts": "2026-03-01", "costs": "2026-03-01",
        "invoices": "2026-03-01",
    }
    december = raw.execute(
        "select daily_active_users from analytics.product_metrics_daily where activity_date = '2025-12-15'"
    ).fetchone()
    assert december == (1,)


def test_late_invoice_line_reopens_billing_only(raw):
    _product_day_one(raw)
    insert_invoice_line(raw, line_id="il1", invoice_id="in1", customer_id="c1", subscription_id="s1",
                        period=("2026-01-15", "2026-02-15"), item_price=price(1000))
    raw.execute("update raw_stripe.invoice_line_items set _airbyte_extracted_at = '2026-03-10T12:00:00Z'")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=ALL_INCREMENTAL_MODELS)
    assert plan.recompute_from_by_domain == {
        "billing": "2026-01-01", "product": "2026-03-01", "accounts": "2026-03-01", "costs": "2026-03-01",
        "invoices": "2026-01-01",
    }


@pytest.mark.parametrize(
    ("change", "product_from", "accounts_from"),
    [
        ({"plan_tier": "enterprise", "name": "Renamed"}, "2026-03-01", "2026-03-01"),
        # c1 pays from October 2025; c9 never paid.
        ({"stripe_customer_id": "c9"}, "2026-03-01", "2025-10-01"),
    ],
    ids=["new tier and name", "linked to another customer"],
)
def test_updated_workspace_reopens_only_months_it_changes(raw, change, product_from, accounts_from):
    _product_day_one(raw)
    row = {"id": 1, "name": "Workspace 1", "stripe_customer_id": "c1", "plan_tier": "team", "writer": "app",
           "created_at": "2025-10-01 09:00:00", "updated_at": "2026-03-10 09:00:00", **change}
    insert_raw(raw, "raw_product.workspaces", row)
    _extracted_on_day_two(raw, "raw_product.workspaces")
    plan = _daily_run(raw, DAY_TWO, models=ALL_INCREMENTAL_MODELS)
    assert plan.recompute_from_by_domain["product"] == product_from
    assert plan.recompute_from_by_domain["accounts"] == accounts_from
    assert plan.recompute_from_by_domain["billing"] == "2026-03-01"


def test_new_workspace_reopens_its_signup_month(raw):
    _product_day_one(raw)
    insert_workspace(raw, 2, created_at="2026-01-20 09:00:00")
    _extracted_on_day_two(raw, "raw_product.workspaces")
    plan = _daily_run(raw, DAY_TWO, models=ALL_INCREMENTAL_MODELS)
    # created_at less one day (for any UTC offset) is still in January.
    assert plan.recompute_from_by_domain["product"] == "2026-01-01"
    assert plan.recompute_from_by_domain["accounts"] == "2026-03-01"


def test_late_user_signup_reopens_its_day(raw):
    _product_day_one(raw)
    insert_raw(raw, "raw_product.users", {"id": 11, "workspace_id": 1, "created_at": "2026-02-02 09:00:00"})
    # An already known user extracted again changes no past day.
    insert_raw(raw, "raw_product.users", {"id": 10, "workspace_id": 1, "created_at": "2025-10-01 09:00:00"})
    _extracted_on_day_two(raw, "raw_product.users")
    plan = _daily_run(raw, DAY_TWO, models=ALL_INCREMENTAL_MODELS)
    assert plan.recompute_from_by_domain["product"] == "2026-02-01"
    signups = raw.execute(
        "select user_signups from analytics.product_metrics_daily where activity_date = '2026-02-02'"
    ).fetchone()
    assert signups == (1,)


def test_incremental_product_and_cost_tables_equal_full_rebuild(raw):
    # c5 is an Enterprise customer; the other customers are Self-Serve.
    insert_subscription_version(raw, subscription_id="s5", customer_id="c5", updated="2025-10-05T00:00:00",
                                extracted_at="2025-10-05T01:00:00", items=[(price(600000), 1)])
    insert_event(raw, 5, workspace_id=1, user_id=10, occurred_at="2025-12-10 10:00:00", event_name="export_csv")
    _product_day_one(raw)
    insert_event(raw, 2, workspace_id=1, user_id=10, occurred_at="2026-02-20 10:00:00", event_name="export_csv")
    insert_raw(raw, "raw_product.users", {"id": 11, "workspace_id": 1, "created_at": "2026-02-21 09:00:00"})
    # The workspace moves from c1 to c5, so its December activity moves to the Enterprise segment.
    insert_raw(raw, "raw_product.workspaces", {
        "id": 1, "name": "Workspace 1", "stripe_customer_id": "c5", "plan_tier": "team", "writer": "app",
        "created_at": "2025-10-01 09:00:00", "updated_at": "2026-03-10 09:00:00",
    })
    for table in ("raw_product.events", "raw_product.users", "raw_product.workspaces"):
        _extracted_on_day_two(raw, table)
    plan = _daily_run(raw, DAY_TWO, models=ALL_INCREMENTAL_MODELS)
    assert plan.recompute_from_by_domain["product"] == "2026-02-01"
    assert plan.recompute_from_by_domain["accounts"] == "2025-10-01"
    tables = ("analytics.product_metrics_daily", "analytics.segment_metrics", "staging.product_events")
    incremental = _snapshot(raw, tables)
    for table in tables:
        raw.execute(f"truncate {table}")
    raw.commit()
    run_models(raw, DAY_TWO, only=ALL_INCREMENTAL_MODELS)
    assert _snapshot(raw, tables) == incremental


MERGED_STAGING = models_upstream_of(
    "stripe_invoice_line_items", "segment_tracks", "zendesk_tickets", "subscription_item_states", "product_users"
)
MERGED_TABLES = (
    "staging.stripe_subscription_items",
    "core.subscription_item_states",
    "staging.stripe_invoices",
    "staging.stripe_invoice_line_items",
    "staging.segment_tracks",
    "staging.zendesk_tickets",
    "staging.product_users",
    "staging.quarantine",
)


def _insert_line(conn, line_id, invoice_id, extracted_at, subscription_id="s1", customer_id="c1", **kwargs):
    insert_invoice_line(conn, line_id=line_id, invoice_id=invoice_id, customer_id=customer_id,
                        subscription_id=subscription_id, period=("2026-03-01", "2026-04-01"),
                        item_price=price(1000), **kwargs)
    conn.execute("update raw_stripe.invoice_line_items set _airbyte_extracted_at = %s where id = %s",
                 (extracted_at, line_id))
    conn.execute("update raw_stripe.invoices set _airbyte_extracted_at = %s where id = %s and "
                 "_airbyte_extracted_at = '2026-03-01T00:00:00Z'", (extracted_at, invoice_id))


def _insert_track(conn, message_id, extracted_at, timestamp="2026-03-05T10:00:00Z"):
    insert_raw(conn, "raw_segment.tracks", {"id": message_id, "event": "Page_Viewed", "timestamp": timestamp,
                                            "_airbyte_extracted_at": extracted_at})


def _insert_ticket(conn, ticket_id, extracted_at, updated_at, status):
    insert_raw(conn, "raw_zendesk.tickets", {"id": ticket_id, "created_at": "2026-03-01T00:00:00Z",
                                             "updated_at": updated_at, "status": status,
                                             "_airbyte_extracted_at": extracted_at})


def _merged_snapshot(conn):
    snapshot = {
        table: sorted(conn.execute(f"select * from {table}").fetchall(), key=repr) for table in MERGED_TABLES
    }
    conn.commit()
    return snapshot


def _assert_equals_full_rebuild(conn, as_of):
    merged = _merged_snapshot(conn)
    run_models(conn, as_of, only=MERGED_STAGING)
    assert _merged_snapshot(conn) == merged


@pytest.fixture
def merged_day_one(raw):
    _insert_line(raw, "il1", "in1", "2026-03-01T01:00:00Z")
    _insert_line(raw, "il2", "in2", "2026-03-01T01:00:00Z")
    # Subscription s7 has no synced version: its states come from its invoice line.
    _insert_line(raw, "il7", "in7", "2026-03-01T01:00:00Z", subscription_id="s7", customer_id="c7")
    _insert_track(raw, "m1", "2026-03-01T01:00:00Z")
    _insert_ticket(raw, 1, "2026-03-01T01:00:00Z", "2026-03-01T00:00:00Z", "open")
    insert_raw(raw, "raw_product.users", {"id": 10, "workspace_id": 1, "role": "member",
                                          "created_at": "2026-02-01 09:00:00",
                                          "_airbyte_extracted_at": "2026-03-01T01:00:00Z"})
    raw.commit()
    plan = _daily_run(raw, DAY_ONE, models=MRR_MODELS | MERGED_STAGING)
    assert set(plan.changed_since.values()) == {"-infinity"}
    return raw


def test_merged_staging_restages_only_changed_records_and_equals_full_rebuild(merged_day_one):
    raw = merged_day_one
    # Day two: invoice in1 is voided (its line il1 must follow), a line arrives before its
    # invoice, a track without a timestamp, a ticket is solved; all extracted after day one.
    insert_raw(raw, "raw_stripe.invoices", {"id": "in1", "customer": "c1", "subscription": "s1", "status": "void",
                                            "currency": "usd", "updated": unix("2026-03-10T09:00:00"),
                                            "_airbyte_extracted_at": "2026-03-10T10:00:00Z"})
    _insert_line(raw, "il3", "in3", "2026-03-10T10:00:00Z")
    raw.execute("delete from raw_stripe.invoices where id = 'in3'")
    _insert_track(raw, "m2", "2026-03-10T10:00:00Z", timestamp=None)
    _insert_ticket(raw, 1, "2026-03-10T10:00:00Z", "2026-03-10T09:00:00Z", "solved")
    # User 10 becomes an admin; user 11 has no workspace.
    for user in ({"id": 10, "workspace_id": 1, "role": "admin"}, {"id": 11, "role": "member"}):
        insert_raw(raw, "raw_product.users", {**user, "created_at": "2026-02-01 09:00:00",
                                              "_airbyte_extracted_at": "2026-03-10T10:00:00Z"})
    # s7's only invoice is voided, so it has no states any more; s2 gets a new version.
    insert_raw(raw, "raw_stripe.invoices", {"id": "in7", "customer": "c7", "subscription": "s7", "status": "void",
                                            "currency": "usd", "updated": unix("2026-03-10T09:00:00"),
                                            "_airbyte_extracted_at": "2026-03-10T10:00:00Z"})
    insert_subscription_version(raw, subscription_id="s2", customer_id="c2", updated="2026-03-10T08:00:00",
                                extracted_at="2026-03-10T10:00:00", items=[(price(2000), 5)])
    raw.commit()
    states_before = raw.execute(
        "select subscription_id, count(*) from core.subscription_item_states group by 1 order by 1"
    ).fetchall()
    plan = _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)

    # The plan reads again from one day before day one's watermark.
    assert plan.changed_since["raw_stripe.invoices"] == "2026-02-28T01:00:00+00:00"
    assert plan.changed_since["raw_stripe.invoice_line_items"] == "2026-02-28T01:00:00+00:00"
    assert raw.execute(
        "select invoice_line_id, invoice_status from staging.stripe_invoice_line_items order by 1"
    ).fetchall() == [("il1", "void"), ("il2", "paid"), ("il7", "void")]
    assert raw.execute("select record_key, reason from staging.quarantine order by 1").fetchall() == [
        ("11", "missing workspace"), ("in3/il3", "invoice not staged in3"), ("m2", "missing timestamp")
    ]
    assert raw.execute("select status from staging.zendesk_tickets").fetchall() == [("solved",)]
    assert raw.execute("select user_id, role from staging.product_users").fetchall() == [(10, "admin")]
    assert raw.execute("select subscription_id from core.changed_subscriptions order by 1").fetchall() == [
        ("s1",), ("s2",), ("s7",)
    ]
    assert states_before == [("s1", 2), ("s2", 1), ("s3", 1), ("s7", 1)]
    assert raw.execute(
        "select subscription_id, count(*) from core.subscription_item_states group by 1 order by 1"
    ).fetchall() == [("s1", 2), ("s2", 2), ("s3", 1)]
    _assert_equals_full_rebuild(raw, DAY_TWO)

    # Day three: the missing invoice arrives, so its waiting line is staged.
    insert_raw(raw, "raw_stripe.invoices", {"id": "in3", "customer": "c1", "subscription": "s1", "status": "paid",
                                            "currency": "usd", "updated": unix("2026-03-11T09:00:00"),
                                            "_airbyte_extracted_at": "2026-03-11T10:00:00Z"})
    raw.commit()
    day_three = DAY_TWO + dt.timedelta(days=1)
    _daily_run(raw, day_three, models=MRR_MODELS | MERGED_STAGING)
    assert raw.execute("select count(*) from staging.quarantine where record_key = 'in3/il3'").fetchone()[0] == 0
    assert raw.execute(
        "select invoice_status from staging.stripe_invoice_line_items where invoice_line_id = 'il3'"
    ).fetchone()[0] == "paid"
    _assert_equals_full_rebuild(raw, day_three)


def test_merged_staging_rerun_changes_nothing(merged_day_one):
    raw = merged_day_one
    _insert_track(raw, "m2", "2026-03-10T10:00:00Z")
    raw.commit()
    _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    before = _merged_snapshot(raw)
    plan = _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    assert plan.changed_since["raw_segment.tracks"] == "2026-03-09T10:00:00+00:00"
    assert _merged_snapshot(raw) == before


def test_future_row_keeps_watermark(merged_day_one):
    """A row stamped after the run's extracted_until neither moves the watermark nor hides later rows."""
    raw = merged_day_one
    _insert_track(raw, "m_future", "2099-01-01T00:00:00Z")
    _insert_track(raw, "m2", "2026-03-10T10:00:00Z")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    assert plan.watermarks_seen["raw_segment.tracks"] == "2026-03-10T10:00:00+00:00"
    _insert_track(raw, "m3", "2026-03-11T10:00:00Z")
    raw.commit()
    _daily_run(raw, DAY_TWO + dt.timedelta(days=1), models=MRR_MODELS | MERGED_STAGING)
    staged = raw.execute("select message_id from staging.segment_tracks order by 1").fetchall()
    assert staged == [("m1",), ("m2",), ("m3",)]


def test_raw_table_that_lost_rows_is_restaged_in_full(merged_day_one):
    raw = merged_day_one
    _insert_track(raw, "m2", "2026-03-10T10:00:00Z")
    raw.commit()
    _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    # A reload of the table without the newest rows: the merge cannot see what went.
    raw.execute("delete from raw_segment.tracks where id = 'm2'")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    assert plan.changed_since["raw_segment.tracks"] == "-infinity"
    assert plan.changed_since["raw_zendesk.tickets"] != "-infinity"
    assert any("raw_segment.tracks is read in full: the last run counted 2 rows" in r for r in plan.reasons)
    assert raw.execute("select message_id from staging.segment_tracks").fetchall() == [("m1",)]


def test_lookup_indexes_created(merged_day_one):
    indexes = {
        row[0]
        for row in merged_day_one.execute(
            "select indexdef from pg_indexes where schemaname in ('raw_stripe', 'raw_product', 'staging', 'analytics') "
            "and indexname like '%%_idx'"
        ).fetchall()
    }
    # The accounts domain looks up the staged copy of a workspace and its customers' months.
    assert (
        "CREATE INDEX product_workspaces_workspace_id_idx ON staging.product_workspaces USING btree (workspace_id)"
        in indexes
    )
    assert (
        "CREATE INDEX customer_mrr_monthly_customer_id_month_start_idx ON analytics.customer_mrr_monthly "
        "USING btree (customer_id, month_start)"
        in indexes
    )
    assert "CREATE INDEX invoice_line_items_id_idx ON raw_stripe.invoice_line_items USING btree (id)" in indexes
    assert (
        "CREATE INDEX events_airbyte_extracted_at_idx ON raw_product.events USING btree (_airbyte_extracted_at)"
        in indexes
    )
    # The events staging reads the raw events of its window.
    assert "CREATE INDEX events_occurred_at_idx ON raw_product.events USING btree (occurred_at)" in indexes


def test_row_accounting_counts_the_records_changed_since_the_last_run(merged_day_one):
    raw = merged_day_one
    _insert_track(raw, "m0", "2026-01-01T00:00:00Z")
    raw.commit()
    _daily_run(raw, DAY_ONE, models=MRR_MODELS | MERGED_STAGING)
    _insert_track(raw, "m2", "2026-03-10T10:00:00Z")
    _insert_track(raw, "m3", "2026-03-10T10:00:00Z", timestamp=None)
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=MRR_MODELS | models_upstream_of("row_accounting"))

    rows = raw.execute(
        "select source_table, raw_rows, records, staged_rows, quarantined_rows, unaccounted_rows, extracted_since "
        "from analytics.row_accounting where as_of = %s",
        (DAY_TWO,),
    ).fetchall()
    accounting = {row[0]: row[1:] for row in rows}
    # m0 was extracted long before day one's watermark, so it is out of the run's scope.
    since = dt.datetime.fromisoformat(plan.changed_since["raw_segment.tracks"])
    assert accounting["raw_segment.tracks"] == (3, 3, 2, 1, 0, since)
    assert accounting["raw_stripe.customers"][-1] is None
    assert all(row[5] == 0 for row in rows)
    assert len(rows) == 13


def test_rows_loaded_with_old_extraction_times_are_staged(merged_day_one):
    raw = merged_day_one
    # A restored backup adds a ticket stamped long before day one's watermark.
    _insert_ticket(raw, 2, "2026-01-15T00:00:00Z", "2026-01-15T00:00:00Z", "open")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    assert plan.changed_since["raw_zendesk.tickets"] == "-infinity"
    assert plan.changed_since["raw_segment.tracks"] != "-infinity"
    assert any("raw_zendesk.tickets is read in full: the last run counted 1 rows" in r for r in plan.reasons)
    assert raw.execute("select ticket_id from staging.zendesk_tickets order by 1").fetchall() == [(1,), (2,)]
    # The next run counts the new total and reads by change again.
    assert _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING).changed_since["raw_zendesk.tickets"] != (
        "-infinity"
    )


def test_deleted_invoice_restages_its_lines(merged_day_one):
    raw = merged_day_one
    raw.execute("delete from raw_stripe.invoices where id = 'in2'")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    assert plan.changed_since["raw_stripe.invoices"] == "-infinity"
    assert plan.changed_since["raw_stripe.invoice_line_items"] == "-infinity"
    assert any("raw_stripe.invoice_line_items is read in full with raw_stripe.invoices" in r for r in plan.reasons)
    # The plan cannot tell which months the deleted invoice billed, or which history its lines rebuilt.
    assert plan.recompute_from_by_domain["invoices"] == "1970-01-01"
    assert plan.recompute_from_by_domain["billing"] == "1970-01-01"
    assert raw.execute(
        "select reason from staging.quarantine where record_key = 'in2/il2'"
    ).fetchall() == [("invoice not staged in2",)]
    _assert_equals_full_rebuild(raw, DAY_TWO)


def test_stale_reject_of_failed_run_is_dropped(merged_day_one):
    raw = merged_day_one
    insert_raw(raw, "raw_zendesk.tickets", {"subject": "No id", "_airbyte_extracted_at": "2026-03-10T10:00:00Z"})
    raw.commit()
    # A run quarantines the ticket and fails before it saves its watermark.
    plan = plan_recompute(raw, data_interval_start=DAY_ONE, data_interval_end=DAY_TWO, config=load_metrics_config())
    raw.commit()
    run_models(raw, DAY_TWO, only=MERGED_STAGING, plan=plan.as_xcom())
    assert raw.execute("select count(*) from staging.quarantine where reason = 'missing id'").fetchone()[0] == 1
    raw.execute("delete from raw_zendesk.tickets where id is null")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    assert plan.changed_since["raw_zendesk.tickets"] != "-infinity"
    assert raw.execute("select count(*) from staging.quarantine where reason = 'missing id'").fetchone()[0] == 0
    _assert_equals_full_rebuild(raw, DAY_TWO)


COHORT_MODELS = ALL_INCREMENTAL_MODELS | models_upstream_of("product_cohort_retention")
COHORT_TABLES = ("core.workspace_active_months", "analytics.product_cohort_retention")


def _assert_tables_equal_full_rebuild(conn, as_of, tables, models):
    incremental = _snapshot(conn, tables)
    for table in tables:
        conn.execute(f"truncate {table}")
    conn.commit()
    run_models(conn, as_of, only=models)
    assert _snapshot(conn, tables) == incremental


def test_late_event_and_new_tier_update_product_cohorts(raw):
    # Workspace 2 signs up in November on the free plan and is active that month only.
    insert_workspace(raw, 2, created_at="2025-11-05 09:00:00", plan_tier="free")
    insert_event(raw, 3, workspace_id=2, user_id=20, occurred_at="2025-11-20 10:00:00")
    _product_day_one(raw, models=COHORT_MODELS)
    assert raw.execute(
        "select cohort_month::text from analytics.product_cohort_retention group by 1 order by 1"
    ).fetchall() == [("2025-10-01",)]

    # Day two: a late December event of workspace 1, and workspace 2 moves to a paid plan,
    # which reopens no product month, so its November activity is not recomputed.
    insert_event(raw, 2, workspace_id=1, user_id=10, occurred_at="2025-12-15 10:00:00")
    insert_workspace(raw, 2, created_at="2025-11-05 09:00:00", plan_tier="team")
    _extracted_on_day_two(raw, "raw_product.events")
    _extracted_on_day_two(raw, "raw_product.workspaces")
    plan = _daily_run(raw, DAY_TWO, models=COHORT_MODELS)
    assert plan.recompute_from_by_domain["product"] == "2025-12-01"

    cohorts = {
        (cohort, month): (size, active)
        for cohort, month, size, active in raw.execute(
            "select cohort_month::text, month_start::text, cohort_workspaces, active_workspaces "
            "from analytics.product_cohort_retention"
        ).fetchall()
    }
    assert cohorts[("2025-10-01", "2025-12-01")] == (1, 1)
    assert cohorts[("2025-10-01", "2026-01-01")] == (1, 0)
    assert cohorts[("2025-11-01", "2025-11-01")] == (1, 1)
    assert cohorts[("2025-11-01", "2025-12-01")] == (1, 0)
    assert raw.execute(
        "select workspace_id, month_start::text from core.workspace_active_months order by 2, 1"
    ).fetchall() == [(2, "2025-11-01"), (1, "2025-12-01"), (1, "2026-03-01")]
    _assert_tables_equal_full_rebuild(raw, DAY_TWO, COHORT_TABLES, COHORT_MODELS)


def test_upgrade_without_active_months_rebuilds_everything(raw):
    # A warehouse built before core.workspace_active_months existed has the cohort table only.
    _product_day_one(raw)
    raw.execute("create table analytics.product_cohort_retention (cohort_month date)")
    raw.commit()
    run_models(raw, DAY_TWO, only={"setup_warehouse"})
    raw.commit()
    raw.execute("drop table analytics.product_cohort_retention")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=COHORT_MODELS)
    assert plan.is_full_rebuild is True
    assert raw.execute("select count(*) from core.workspace_active_months").fetchone()[0] == 1


def test_event_on_last_utc_day_of_earlier_month(raw):
    _product_day_one(raw, models=COHORT_MODELS)
    # 23:30 on 28 February, Pacific wall-clock time, is 1 March 07:30 UTC.
    insert_event(raw, 2, workspace_id=1, user_id=10, occurred_at="2026-02-28 23:30:00", writer="legacy-sync")
    insert_event(raw, 3, workspace_id=1, user_id=10, occurred_at="2026-01-31 23:30:00")
    _extracted_on_day_two(raw, "raw_product.events")
    plan = _daily_run(raw, DAY_TWO, models=COHORT_MODELS)
    assert plan.recompute_from_by_domain["product"] == "2026-01-01"
    assert raw.execute(
        "select month_start::text from core.workspace_active_months order by 1"
    ).fetchall() == [("2026-01-01",), ("2026-03-01",)]
    _assert_tables_equal_full_rebuild(raw, DAY_TWO, COHORT_TABLES, COHORT_MODELS)


RECONCILIATION_MODELS = MRR_MODELS | models_upstream_of("mrr_reconciliation")


def _line(conn, line_id, invoice_id, subscription_id, period, unit_amount, **kwargs):
    customer_id = subscription_id.replace("s", "c")
    insert_invoice_line(conn, line_id=line_id, invoice_id=invoice_id, customer_id=customer_id,
                        subscription_id=subscription_id, period=period, item_price=price(unit_amount),
                        billing_reason="subscription_cycle", **kwargs)


def _invoiced_by_month(conn):
    return dict(conn.execute(
        "select month_start::text, invoiced_mrr from analytics.mrr_reconciliation where currency = 'usd'"
    ).fetchall())


def test_late_invoices_and_lines_update_reconciliation(raw):
    # in1 is still open when day one runs; il2 bills January; il3 waits for its invoice in3.
    _line(raw, "il1", "in1", "s1", ("2025-12-15", "2026-01-15"), 1000, invoice_status="open")
    _line(raw, "il2", "in2", "s2", ("2026-01-20", "2026-02-20"), 2000)
    _line(raw, "il3", "in3", "s3", ("2025-11-05", "2025-12-05"), 3000)
    raw.execute("delete from raw_stripe.invoices where id = 'in3'")
    raw.commit()
    _daily_run(raw, DAY_ONE, models=RECONCILIATION_MODELS)
    assert _invoiced_by_month(raw) == {
        "2025-10-01": 0, "2025-11-01": 0, "2025-12-01": 0, "2026-01-01": 20, "2026-02-01": 0, "2026-03-01": 0
    }

    # Day two: in1 is paid, il2 is corrected to bill February, and in3 arrives.
    insert_raw(raw, "raw_stripe.invoices", {"id": "in1", "customer": "c1", "subscription": "s1", "status": "paid",
                                            "currency": "usd", "billing_reason": "subscription_cycle",
                                            "updated": unix("2026-03-10T09:00:00")})
    insert_raw(raw, "raw_stripe.invoices", {"id": "in3", "customer": "c3", "subscription": "s3", "status": "paid",
                                            "currency": "usd", "billing_reason": "subscription_cycle",
                                            "updated": unix("2026-03-10T09:00:00")})
    _line(raw, "il2", "in2", "s2", ("2026-02-20", "2026-03-20"), 2000)
    raw.execute("update raw_stripe.invoice_line_items set _airbyte_extracted_at = '2026-03-10T12:00:00Z' "
                "where _airbyte_extracted_at = '2026-02-20T00:00:00Z'")
    _extracted_on_day_two(raw, "raw_stripe.invoices")
    plan = _daily_run(raw, DAY_TWO, models=RECONCILIATION_MODELS)
    # The earliest period start of in3's line, and il2's old period (January), are reopened.
    # Billing too, because a new invoice stages the lines that waited for it.
    assert plan.recompute_from_by_domain["invoices"] == "2025-11-01"
    assert plan.recompute_from_by_domain["billing"] == "2025-11-01"
    assert _invoiced_by_month(raw) == {
        "2025-10-01": 0, "2025-11-01": 30, "2025-12-01": 10, "2026-01-01": 0, "2026-02-01": 20, "2026-03-01": 20
    }
    _assert_tables_equal_full_rebuild(raw, DAY_TWO, ("analytics.mrr_reconciliation",), RECONCILIATION_MODELS)


def _invoice(conn, invoice_id, subscription_id, status, extracted_at):
    insert_raw(conn, "raw_stripe.invoices", {
        "id": invoice_id, "customer": subscription_id.replace("s", "c"), "subscription": subscription_id,
        "status": status, "currency": "usd", "billing_reason": "subscription_cycle",
        "updated": unix(extracted_at[:19]), "_airbyte_extracted_at": extracted_at,
    })


def _native_mrr(conn, customer_id):
    return conn.execute(
        "select month_start::text, mrr from analytics.customer_mrr_monthly "
        "where customer_id = %s and currency_basis = 'native' and mrr > 0 order by 1",
        (customer_id,),
    ).fetchall()


def test_invoice_changes_that_rebuild_history_reopen_billing(raw):
    """s8 and s9 have no synced version: their history comes from invoice lines."""
    _line(raw, "il8", "in8", "s8", ("2025-12-15", "2026-01-15"), 1000, invoice_status="open")
    # il9 waits for its invoice in9, so it rebuilds no history yet.
    _line(raw, "il9", "in9", "s9", ("2025-11-05", "2025-12-05"), 3000)
    raw.execute("delete from raw_stripe.invoices where id = 'in9'")
    raw.commit()
    _daily_run(raw, DAY_ONE, models=RECONCILIATION_MODELS)
    assert _native_mrr(raw, "c8") == [("2025-12-01", 10)]
    assert _native_mrr(raw, "c9") == []

    # Day two: in8 is paid late, which changes what it billed but not s8's history.
    _invoice(raw, "in8", "s8", "paid", "2026-03-10T12:00:00Z")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=RECONCILIATION_MODELS)
    assert plan.recompute_from_by_domain["invoices"] == "2025-12-01"
    assert plan.recompute_from_by_domain["billing"] == "2026-03-01"

    # Day three: in8 is voided and in9 arrives, so both histories change.
    _invoice(raw, "in8", "s8", "void", "2026-03-11T12:00:00Z")
    _invoice(raw, "in9", "s9", "paid", "2026-03-11T12:00:00Z")
    raw.commit()
    day_three = DAY_TWO + dt.timedelta(days=1)
    plan = _daily_run(raw, day_three, models=RECONCILIATION_MODELS)
    assert plan.recompute_from_by_domain["billing"] == "2025-11-01"
    assert _native_mrr(raw, "c8") == []
    assert _native_mrr(raw, "c9") == [("2025-11-01", 30)]
    _assert_tables_equal_full_rebuild(
        raw,
        day_three,
        ("analytics.mrr_reconciliation", "analytics.customer_mrr_monthly", "analytics.mrr_monthly"),
        RECONCILIATION_MODELS,
    )


def test_corrected_line_reopens_its_old_period(raw):
    _line(raw, "il1", "in1", "s1", ("2025-12-15", "2026-01-15"), 1000)
    raw.commit()
    _daily_run(raw, DAY_ONE, models=RECONCILIATION_MODELS)
    # A newer version of il1 moves its period to March: December no longer bills it.
    _line(raw, "il1", "in1", "s1", ("2026-03-01", "2026-04-01"), 1000)
    raw.execute("update raw_stripe.invoice_line_items set _airbyte_extracted_at = '2026-03-10T12:00:00Z' "
                "where _airbyte_extracted_at = '2026-03-01T00:00:00Z'")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=RECONCILIATION_MODELS)
    assert plan.recompute_from_by_domain["invoices"] == "2025-12-01"
    assert _invoiced_by_month(raw)["2025-12-01"] == 0
    _assert_tables_equal_full_rebuild(raw, DAY_TWO, ("analytics.mrr_reconciliation",), RECONCILIATION_MODELS)


def test_line_moved_subscription_drops_old_state(merged_day_one):
    raw = merged_day_one
    states_of_s7 = "select count(*) from core.subscription_item_states where subscription_id = 's7'"
    assert raw.execute(states_of_s7).fetchone() == (1,)
    # Day two: a corrected copy of il7 names subscription s8, so s7 has no line left.
    insert_invoice_line(raw, line_id="il7", invoice_id="in7", customer_id="c7", subscription_id="s8",
                        period=("2026-03-01", "2026-04-01"), item_price=price(1000))
    raw.execute("update raw_stripe.invoice_line_items set _airbyte_extracted_at = '2026-03-10T10:00:00Z' "
                "where id = 'il7' and subscription = 's8'")
    raw.commit()
    _daily_run(raw, DAY_TWO, models=MRR_MODELS | MERGED_STAGING)
    assert raw.execute(
        "select subscription_id from core.subscription_item_states where subscription_id in ('s7', 's8')"
    ).fetchall() == [("s8",)]
    _assert_equals_full_rebuild(raw, DAY_TWO)


def test_keyless_subscription_copies_are_each_quarantined(merged_day_one):
    """Two copies of a version without an id, extracted on two days, are two quarantined records."""
    raw = merged_day_one
    accounting = (
        "select raw_rows, collapsed_rows, records, staged_rows, quarantined_rows, unaccounted_rows "
        "from analytics.row_accounting where source_table = 'raw_stripe.subscriptions' and as_of = %s"
    )
    models = MRR_MODELS | MERGED_STAGING | models_upstream_of("row_accounting")
    for day, extracted_at in ((DAY_ONE, "2026-03-01T02:00:00Z"), (DAY_TWO, "2026-03-10T10:00:00Z")):
        insert_subscription_version(raw, subscription_id=None, customer_id="c9", updated="2026-02-10T00:00:00",
                                    extracted_at=extracted_at, items=[(price(1000), 1)])
        raw.commit()
        _daily_run(raw, day, models=models)
    # Day two counts the records with a row after changed_since: both copies are in that window.
    assert raw.execute(accounting, (DAY_TWO,)).fetchone() == (2, 0, 2, 0, 2, 0)
    assert raw.execute(
        "select count(*) from staging.quarantine where source_table = 'raw_stripe.subscriptions'"
    ).fetchone() == (2,)


PRODUCT_TABLES = (
    "staging.product_events",
    "core.workspace_active_months",
    "analytics.product_cohort_retention",
    "analytics.product_metrics_daily",
)


def test_event_moved_later_restaged_once(raw):
    insert_event(raw, 5, workspace_id=1, user_id=10, occurred_at="2025-12-15 10:00:00")
    _product_day_one(raw, models=COHORT_MODELS)
    # Day two: a corrected copy of event 5 moves it to February.
    insert_event(raw, 5, workspace_id=1, user_id=10, occurred_at="2026-02-10 10:00:00")
    _extracted_on_day_two(raw, "raw_product.events")
    plan = _daily_run(raw, DAY_TWO, models=COHORT_MODELS)
    # The earliest day over the event's versions, less a day for any UTC offset.
    assert plan.recompute_from_by_domain["product"] == "2025-12-01"
    assert raw.execute(
        "select occurred_at at time zone 'UTC' from staging.product_events where event_id = 5"
    ).fetchall() == [(dt.datetime(2026, 2, 10, 10),)]
    _assert_tables_equal_full_rebuild(raw, DAY_TWO, PRODUCT_TABLES, COHORT_MODELS)


def test_deleted_event_restages_every_day(raw):
    insert_event(raw, 5, workspace_id=1, user_id=10, occurred_at="2025-12-15 10:00:00")
    _product_day_one(raw, models=COHORT_MODELS)
    raw.execute("delete from raw_product.events where id = 5")
    raw.commit()
    plan = _daily_run(raw, DAY_TWO, models=COHORT_MODELS)
    assert plan.recompute_from_by_domain["product"] == "1970-01-01"
    assert raw.execute("select event_id from staging.product_events").fetchall() == [(1,)]
    _assert_tables_equal_full_rebuild(raw, DAY_TWO, PRODUCT_TABLES, COHORT_MODELS)
