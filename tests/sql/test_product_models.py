"""Product, cost and segment models on small hand-checked inputs in the real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from helpers.models import (
    create_raw_tables,
    insert_aws_cost,
    insert_event,
    insert_subscription_version,
    insert_workspace,
    models_upstream_of,
    price,
    run_models,
)
from saas_metrics.demo import count_timezone_conversions
from saas_metrics.models import EVENTS_PARTITION_FILTER

AS_OF = dt.datetime(2026, 3, 1, 7, tzinfo=dt.UTC)


@pytest.fixture
def raw(warehouse_db):
    with warehouse_db.connect() as conn:
        run_models(conn, AS_OF, only={"setup_warehouse"})
        create_raw_tables(conn)
        yield conn


def _build(conn, *targets):
    conn.commit()
    run_models(conn, AS_OF, only=models_upstream_of(*targets))


def test_legacy_rows_are_converted_from_pacific(raw):
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-01-31 23:30:00", writer="legacy-sync")
    insert_event(raw, 2, workspace_id=1, user_id=1, occurred_at="2026-01-31 23:30:00", writer="app")
    insert_event(raw, 3, workspace_id=1, user_id=1, occurred_at="2026-07-01 12:00:00", writer="legacy-sync")
    _build(raw, "product_events")
    rows = dict(raw.execute(
        "select event_id, occurred_at at time zone 'UTC' from staging.product_events"
    ).fetchall())
    assert rows[1] == dt.datetime(2026, 2, 1, 7, 30)
    assert rows[2] == dt.datetime(2026, 1, 31, 23, 30)
    assert rows[3] == dt.datetime(2026, 7, 1, 19, 0)
    converted = raw.execute("select count(*) from staging.product_events where is_local_time_converted")
    assert converted.fetchone()[0] == 2


def test_conversion_report_counts_the_rewritten_events(raw):
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-01-31 23:30:00", writer="legacy-sync")
    insert_event(raw, 2, workspace_id=1, user_id=1, occurred_at="2026-02-27 10:00:00", writer="app")
    insert_event(raw, 3, workspace_id=1, user_id=1, occurred_at="2026-02-28 12:00:00", writer="legacy-sync")
    _build(raw, "product_events")
    tables = ["staging.product_events"]
    every_row = count_timezone_conversions(conn_id="warehouse", tables=tables)
    # A run that rewrote February rewrote the events from January 31 (UTC) on.
    rewritten = count_timezone_conversions(
        conn_id="warehouse",
        tables=tables,
        rewritten={"staging.product_events": EVENTS_PARTITION_FILTER},
        parameters={"recompute_from": "2026-02-01"},
    )
    march = count_timezone_conversions(
        conn_id="warehouse",
        tables=tables,
        rewritten={"staging.product_events": EVENTS_PARTITION_FILTER},
        parameters={"recompute_from": "2026-03-01"},
    )
    assert every_row["staging.product_events"] == {"converted": 2, "total": 3, "scope": "rows"}
    assert (rewritten["staging.product_events"]["converted"], rewritten["staging.product_events"]["total"]) == (2, 3)
    assert (march["staging.product_events"]["converted"], march["staging.product_events"]["total"]) == (1, 1)
    assert march["staging.product_events"]["scope"] == "rows this run rewrote (recompute_from 2026-03-01)"


def test_dau_and_rolling_mau(raw):
    # User 1 is active on 01-01 and 02-10 (two separate 30-day windows); user 2 on 01-20.
    # A heartbeat alone does not make user 3 active.
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-01-01 10:00:00")
    insert_event(raw, 2, workspace_id=1, user_id=1, occurred_at="2026-01-01 11:00:00", event_name="export_csv")
    insert_event(raw, 3, workspace_id=1, user_id=2, occurred_at="2026-01-20 10:00:00")
    insert_event(raw, 4, workspace_id=1, user_id=1, occurred_at="2026-02-10 10:00:00")
    insert_event(raw, 5, workspace_id=1, user_id=3, occurred_at="2026-01-20 10:00:00", event_name="heartbeat")
    _build(raw, "compute_product_metrics")
    metrics = {
        day: (dau, mau)
        for day, dau, mau in raw.execute(
            "select activity_date, daily_active_users, monthly_active_users from analytics.product_metrics_daily"
        ).fetchall()
    }
    assert metrics[dt.date(2026, 1, 1)] == (1, 1)
    assert metrics[dt.date(2026, 1, 20)] == (1, 2)
    assert metrics[dt.date(2026, 1, 30)] == (0, 2)
    assert metrics[dt.date(2026, 1, 31)] == (0, 1)
    assert metrics[dt.date(2026, 2, 10)] == (1, 2)
    assert metrics[dt.date(2026, 2, 19)] == (0, 1)
    assert max(metrics) == dt.date(2026, 2, 28)


def test_dau_mau_ratio_is_null_without_users(raw):
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-01-01 10:00:00")
    _build(raw, "compute_product_metrics")
    ratio = raw.execute(
        "select dau_mau_ratio from analytics.product_metrics_daily where activity_date = '2026-02-15'"
    ).fetchone()
    assert ratio == (None,)


def test_cost_per_active_user(raw):
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-02-01 10:00:00")
    insert_event(raw, 2, workspace_id=1, user_id=2, occurred_at="2026-02-01 11:00:00")
    insert_aws_cost(raw, "2026-02-01", "Amazon EC2", "30.00")
    insert_aws_cost(raw, "2026-02-01", "Amazon S3", "10.00")
    insert_aws_cost(raw, "2026-02-02", "Amazon EC2", "25.00")
    insert_aws_cost(raw, "2026-02-02", "Amazon S3", "5.00", unit="EUR")
    _build(raw, "infrastructure_cost_daily")
    costs = {
        day: (total, per_user)
        for day, total, per_user in raw.execute(
            "select cost_date, total_cost_usd, cost_per_active_user from analytics.infrastructure_cost_daily"
        ).fetchall()
    }
    assert costs[dt.date(2026, 2, 1)] == (Decimal("40"), Decimal("20"))
    assert costs[dt.date(2026, 2, 2)] == (Decimal("25"), None)
    reasons = raw.execute("select reason from staging.quarantine where source_table = 'raw_aws_cost.cost_and_usage'")
    assert reasons.fetchall() == [("cost unit is not USD: EUR",)]


def test_segments_by_threshold_and_churn(raw):
    # c1 pays 6,000 (Enterprise), c2 1,500 (Mid-Market), c3 250 (SMB) and churns in February,
    # c4 50 (Self-Serve).
    for customer, cents in (("c1", 600000), ("c2", 150000), ("c3", 25000), ("c4", 5000)):
        insert_subscription_version(raw, subscription_id=f"s_{customer}", customer_id=customer,
                                    updated="2026-01-05T00:00:00", items=[(price(cents), 1)])
    insert_subscription_version(raw, subscription_id="s_c3", customer_id="c3", updated="2026-02-05T00:00:00",
                                status="canceled", items=[(price(25000), 1)])
    insert_workspace(raw, 1, created_at="2025-12-01 00:00:00", customer_id="c1")
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-01-10 10:00:00", event_name="export_csv")
    insert_event(raw, 2, workspace_id=1, user_id=2, occurred_at="2026-01-10 11:00:00", event_name="alert_create")
    _build(raw, "compute_segments")
    january = {
        segment: (accounts, mrr, features)
        for segment, accounts, mrr, features in raw.execute(
            "select segment_name, paying_accounts, mrr, average_features_adopted from analytics.segment_metrics "
            "where month_start = '2026-01-01'"
        ).fetchall()
    }
    assert january["Enterprise"] == (1, Decimal("6000"), Decimal("2"))
    assert january["Mid-Market"][:2] == (1, Decimal("1500"))
    assert january["SMB"][:2] == (1, Decimal("250"))
    assert january["Self-Serve"][:2] == (1, Decimal("50"))
    smb_february = raw.execute(
        "select paying_accounts, churned_accounts, churn_rate from analytics.segment_metrics "
        "where month_start = '2026-02-01' and segment_name = 'SMB'"
    ).fetchone()
    assert smb_february == (0, 1, Decimal(1))
    dau = raw.execute(
        "select average_daily_active_users from analytics.segment_metrics "
        "where month_start = '2026-01-01' and segment_name = 'Enterprise'"
    ).fetchone()[0]
    assert dau == pytest.approx(Decimal(2) / Decimal(31), abs=Decimal("1e-12"))


def test_product_cohorts_are_dense(raw):
    insert_workspace(raw, 1, created_at="2026-01-05 00:00:00")
    insert_workspace(raw, 2, created_at="2026-01-06 00:00:00")
    insert_workspace(raw, 3, created_at="2026-01-07 00:00:00", plan_tier="free")
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-01-10 10:00:00")
    insert_event(raw, 2, workspace_id=3, user_id=3, occurred_at="2026-02-10 10:00:00")
    insert_event(raw, 3, workspace_id=2, user_id=2, occurred_at="2026-02-10 10:00:00", event_name="session_start")
    _build(raw, "product_cohort_retention")
    rows = raw.execute(
        "select month_start::text, cohort_workspaces, active_workspaces, retention "
        "from analytics.product_cohort_retention order by month_start"
    ).fetchall()
    assert rows == [
        ("2026-01-01", 2, 1, Decimal("0.5")),
        ("2026-02-01", 2, 0, Decimal(0)),
        ("2026-03-01", 2, 0, Decimal(0)),
    ]
