"""Weekly models on small hand-checked inputs in the real PostgreSQL server.

The run's data interval ends on Monday 2026-03-16 08:00 UTC, so the report week is
2026-03-09 to 2026-03-15 and the data-quality window is those seven UTC days.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from helpers.models import create_raw_tables, insert_event, insert_workspace, run_models
from helpers.weekly_models import run_weekly_models

AS_OF = dt.datetime(2026, 3, 16, 8, tzinfo=dt.UTC)
REPORT_WEEK = dt.date(2026, 3, 9)
PREVIOUS_WEEK = dt.date(2026, 3, 2)


@pytest.fixture
def raw(warehouse_db):
    with warehouse_db.connect() as conn:
        run_models(conn, AS_OF, only={"setup_warehouse"})
        create_raw_tables(conn)
        run_weekly_models(conn, AS_OF, only={"setup_weekly"})
        yield conn


def _rows(conn, sql, params=None) -> list[dict]:
    cursor = conn.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- feature adoption -------------------------------------------------------------------------


@pytest.fixture
def product(raw):
    # Workspaces 1 and 2 belong to customer c1, 3 to c2; 4 is a free workspace without customer.
    insert_workspace(raw, 1, created_at="2026-01-05 10:00:00", customer_id="c1")
    insert_workspace(raw, 2, created_at="2026-01-05 10:00:00", customer_id="c1")
    insert_workspace(raw, 3, created_at="2026-01-05 10:00:00", customer_id="c2")
    insert_workspace(raw, 4, created_at="2026-01-05 10:00:00", plan_tier="free")
    insert_event(raw, 1, workspace_id=1, user_id=1, occurred_at="2026-03-03 09:00:00")
    insert_event(raw, 2, workspace_id=1, user_id=1, occurred_at="2026-03-10 09:00:00")
    insert_event(raw, 3, workspace_id=3, user_id=3, occurred_at="2026-03-11 09:00:00", event_name="export_csv")
    insert_event(raw, 4, workspace_id=4, user_id=4, occurred_at="2026-03-12 09:00:00")
    # A heartbeat alone does not make workspace 2 active.
    insert_event(raw, 5, workspace_id=2, user_id=2, occurred_at="2026-03-12 09:00:00", event_name="heartbeat")
    # The week of 2026-03-16 is not complete at the interval end.
    insert_event(raw, 6, workspace_id=3, user_id=3, occurred_at="2026-03-16 01:00:00")
    raw.commit()
    run_models(raw, AS_OF, only={"product_workspaces", "product_events"})
    run_weekly_models(raw, AS_OF, only={"feature_adoption_weekly"})
    return raw


def _adoption(conn, week, feature):
    rows = _rows(
        conn,
        "select * from analytics.feature_adoption_weekly where week_start = %s and feature = %s",
        (week, feature),
    )
    return rows[0] if rows else None


def test_adoption_counts_workspaces_and_accounts(product):
    row = _adoption(product, REPORT_WEEK, "report_create")
    assert row["adopting_workspaces"] == 2
    assert row["adopting_accounts"] == 1
    assert row["active_workspaces"] == 3
    assert row["active_accounts"] == 2


def test_adoption_share_of_active_accounts(product):
    assert _adoption(product, REPORT_WEEK, "report_create")["share_of_active_accounts"] == Decimal("0.5")


def test_adoption_first_time_accounts(product):
    assert _adoption(product, REPORT_WEEK, "report_create")["first_time_accounts"] == 0
    assert _adoption(product, REPORT_WEEK, "export_csv")["first_time_accounts"] == 1
    assert _adoption(product, PREVIOUS_WEEK, "report_create")["first_time_accounts"] == 1


def test_adoption_skips_heartbeats(product):
    assert _adoption(product, REPORT_WEEK, "heartbeat") is None


def test_adoption_skips_incomplete_week(product):
    weeks = product.execute("select max(week_start) from analytics.feature_adoption_weekly").fetchone()[0]
    assert weeks == REPORT_WEEK


def test_adoption_labels_iso_week(product):
    assert _adoption(product, REPORT_WEEK, "report_create")["iso_week"] == "2026-W11"


# --- self-service adoption --------------------------------------------------------------------


def _create_audit_log(conn):
    from saas_metrics.paths import SQL_DIR

    conn.execute((SQL_DIR / "governance" / "query_audit_log.sql").read_text())


def _insert_run(conn, *, requested_by, template, outcome, started_at, rows=None, seconds="1.5"):
    conn.execute(
        """
        insert into analytics.query_audit_log (
            query_id, requested_by, executed_as_role, template_name, is_template_run, query_parameters,
            outcome, rows_returned, duration_seconds, started_at
        ) values (%s, %s, 'product_manager', %s, true, '{}', %s, %s, %s, %s)
        """,
        (uuid.uuid4(), requested_by, template, outcome, rows, seconds, started_at),
    )


def test_self_service_missing_log_not_available(raw):
    run_weekly_models(raw, AS_OF, only={"self_service_adoption_weekly"})
    rows = _rows(raw, "select * from analytics.self_service_adoption_weekly")
    assert len(rows) == 1
    assert rows[0]["is_available"] is False
    assert rows[0]["week_start"] == REPORT_WEEK
    assert rows[0]["template_runs"] is None
    assert "not available" in rows[0]["availability_note"]


@pytest.fixture
def self_service(raw):
    _create_audit_log(raw)
    _insert_run(raw, requested_by="pm2", template="funnel_drop_off", outcome="succeeded",
                started_at="2026-02-24T10:00:00Z", rows=10)
    _insert_run(raw, requested_by="pm1", template="ab_test_results", outcome="succeeded",
                started_at="2026-03-10T10:00:00Z", rows=5, seconds="2.0")
    _insert_run(raw, requested_by="pm1", template="ab_test_results", outcome="rejected",
                started_at="2026-03-11T10:00:00Z", seconds="0")
    _insert_run(raw, requested_by="pm2", template="funnel_drop_off", outcome="failed",
                started_at="2026-03-12T10:00:00Z", seconds="0")
    # After the interval end: not counted.
    _insert_run(raw, requested_by="pm3", template="funnel_drop_off", outcome="succeeded",
                started_at="2026-03-16T09:00:00Z", rows=1)
    raw.commit()
    run_weekly_models(raw, AS_OF, only={"self_service_adoption_weekly"})
    return raw


def _week_total(conn, week):
    rows = _rows(
        conn,
        "select * from analytics.self_service_adoption_weekly where week_start = %s and template_name is null",
        (week,),
    )
    return rows[0] if rows else None


def test_self_service_week_totals(self_service):
    total = _week_total(self_service, REPORT_WEEK)
    assert total["template_runs"] == 3
    assert total["succeeded_runs"] == 1
    assert total["rejected_runs"] == 1
    assert total["failed_runs"] == 1
    assert total["requesters"] == 2


def test_self_service_first_time_requesters(self_service):
    assert _week_total(self_service, REPORT_WEEK)["first_time_requesters"] == 1


def test_self_service_quiet_week_shows_zero(self_service):
    assert _week_total(self_service, PREVIOUS_WEEK)["template_runs"] == 0


def test_self_service_per_template_row(self_service):
    rows = _rows(
        self_service,
        "select * from analytics.self_service_adoption_weekly where week_start = %s and template_name = %s",
        (REPORT_WEEK, "ab_test_results"),
    )
    assert len(rows) == 1
    assert rows[0]["success_rate"] == Decimal("0.5")
    assert rows[0]["average_duration_seconds"] == Decimal("2.0")


def test_self_service_ignores_runs_after_interval(self_service):
    weeks = self_service.execute("select max(week_start) from analytics.self_service_adoption_weekly").fetchone()
    assert weeks[0] == REPORT_WEEK


# --- data quality -----------------------------------------------------------------------------


def _insert_ticket(conn, extracted_at, **values):
    row = {
        "_airbyte_raw_id": str(uuid.uuid4()),
        "_airbyte_extracted_at": extracted_at,
        "_airbyte_meta": json.dumps({"sync_id": 1, "changes": []}),
        "_airbyte_generation_id": 0,
        **values,
    }
    conn.execute(
        f"insert into raw_zendesk.tickets ({', '.join(row)}) values ({', '.join(['%s'] * len(row))})",
        list(row.values()),
    )


def _insert_tickets(conn):
    # raw_zendesk.tickets has 12 columns of its own; each row fills 3, so 9 of 12 are null.
    for extracted_at in ("2026-03-10T05:00:00Z", "2026-03-10T06:00:00Z", "2026-03-12T07:30:00Z"):
        _insert_ticket(conn, extracted_at, id=1, status="open", subject="Help")
    # Extracted after the interval end: neither the last sync nor in the window.
    _insert_ticket(conn, "2026-03-16T09:00:00Z", id=2, status="open", subject="Late")


def _quality(conn, source_name):
    rows = _rows(conn, "select * from analytics.data_quality_weekly where source_name = %s", (source_name,))
    return rows[0] if rows else None


@pytest.fixture
def quality_from_raw(raw):
    _insert_tickets(raw)
    raw.commit()
    run_weekly_models(raw, AS_OF, only={"data_quality_weekly"})
    return raw


def test_quality_falls_back_to_raw(quality_from_raw):
    row = _quality(quality_from_raw, "zendesk")
    assert row["sync_facts_from"] == "raw _airbyte_extracted_at"
    assert row["last_sync_at"] == dt.datetime(2026, 3, 12, 7, 30, tzinfo=dt.UTC)


def test_quality_minutes_since_sync(quality_from_raw):
    # 2026-03-12 07:30 to 2026-03-16 08:00 is 4 days and 30 minutes.
    assert _quality(quality_from_raw, "zendesk")["minutes_since_sync"] == Decimal(4 * 1440 + 30)


def test_quality_days_and_daily_rows(quality_from_raw):
    row = _quality(quality_from_raw, "zendesk")
    assert row["days_with_data_last_7"] == 2
    assert round(row["average_daily_rows"], 6) == Decimal("0.428571")


def test_quality_null_rate_from_raw(quality_from_raw):
    assert _quality(quality_from_raw, "zendesk")["average_null_rate"] == Decimal("0.75")


def test_quality_failed_syncs_unknown_without_health(quality_from_raw):
    assert _quality(quality_from_raw, "zendesk")["failed_syncs"] is None


def test_quality_empty_source_is_overdue(quality_from_raw):
    row = _quality(quality_from_raw, "stripe")
    assert row["last_sync_at"] is None
    assert row["is_overdue"] is True
    assert row["days_with_data_last_7"] == 0


def test_quality_has_one_row_per_source(quality_from_raw):
    names = [row[0] for row in quality_from_raw.execute(
        "select source_name from analytics.data_quality_weekly order by source_position"
    ).fetchall()]
    assert names == ["stripe", "product_postgres", "segment", "salesforce", "aws_cost_explorer", "zendesk"]


def test_quality_without_results_table(quality_from_raw):
    row = _quality(quality_from_raw, "zendesk")
    assert row["has_quality_results"] is False
    assert row["quality_checks"] is None
    assert _quality(quality_from_raw, "warehouse") is None


def _insert_attempt(conn, source, status, ended_at, rows_synced=None):
    conn.execute(
        "insert into analytics.ingestion_health (source, connection_id, status, started_at, ended_at, rows_synced) "
        "values (%s, 'connection', %s, %s::timestamptz - interval '10 minutes', %s, %s)",
        (source, status, ended_at, ended_at, rows_synced),
    )


@pytest.fixture
def quality_from_health(raw):
    from saas_metrics.ingestion_health import CREATE_TABLE_SQL

    raw.execute(CREATE_TABLE_SQL)
    _insert_attempt(raw, "stripe", "succeeded", "2026-03-10T06:00:00Z", 40)
    _insert_attempt(raw, "stripe", "failed", "2026-03-14T06:00:00Z")
    _insert_attempt(raw, "stripe", "succeeded", "2026-03-15T06:00:00Z", 100)
    _insert_attempt(raw, "stripe", "succeeded", "2026-03-16T09:00:00Z", 7)
    raw.commit()
    run_weekly_models(raw, AS_OF, only={"data_quality_weekly"})
    return raw


def test_quality_uses_ingestion_health(quality_from_health):
    row = _quality(quality_from_health, "stripe")
    assert row["sync_facts_from"] == "analytics.ingestion_health"
    assert row["last_sync_at"] == dt.datetime(2026, 3, 15, 6, tzinfo=dt.UTC)


def test_quality_counts_failed_syncs(quality_from_health):
    row = _quality(quality_from_health, "stripe")
    assert row["failed_syncs"] == 1
    assert row["sync_attempts"] == 3


def test_quality_daily_rows_from_health(quality_from_health):
    row = _quality(quality_from_health, "stripe")
    assert row["days_with_data_last_7"] == 2
    assert row["average_daily_rows"] == Decimal(20)


def _insert_check(conn, table_name, outcome, action, severity, recorded_at, data_interval_end=None):
    conn.execute(
        "insert into analytics.data_quality_results (dag_id, run_id, task_id, data_interval_end, table_name, "
        "contract, check_name, severity, threshold_level, outcome, action, recorded_at) "
        "values ('saas_metrics_daily', 'run', 'quality_gate', %s, %s, 'contract.yml', 'check', %s, 'fail', %s, %s, %s)",
        (data_interval_end, table_name, severity, outcome, action, recorded_at),
    )


@pytest.fixture
def quality_with_checks(raw):
    from saas_metrics.quality.storage import CREATE_RESULTS_TABLE

    raw.execute(CREATE_RESULTS_TABLE)
    _insert_check(raw, "raw_stripe.subscriptions", "failed", "block", "critical", "2026-03-15T07:10:00Z")
    _insert_check(raw, "analytics.mrr_monthly", "passed", "pass", "critical", "2026-03-15T07:10:00Z")
    _insert_check(raw, "analytics.mrr_monthly", "warn", "warn", "warning", "2026-03-15T07:10:00Z")
    _insert_check(raw, "analytics.churn_monthly", "excluded", "skip", "critical", "2026-03-15T07:10:00Z")
    # Outside the window.
    _insert_check(raw, "analytics.mrr_monthly", "failed", "block", "critical", "2026-03-01T07:10:00Z")
    # Recorded after the window, by a late run whose data interval ended in it.
    _insert_check(raw, "raw_stripe.subscriptions", "warn", "warn", "warning", "2026-03-20T07:10:00Z",
                  data_interval_end="2026-03-14T07:00:00Z")
    raw.commit()
    run_weekly_models(raw, AS_OF, only={"data_quality_weekly"})
    return raw


def test_quality_checks_per_source(quality_with_checks):
    row = _quality(quality_with_checks, "stripe")
    assert row["quality_checks"] == 2
    assert row["failed_quality_checks"] == 1
    assert row["warning_quality_checks"] == 1
    assert row["failed_critical_checks"] == 1


def test_quality_checks_on_pipeline_tables(quality_with_checks):
    row = _quality(quality_with_checks, "warehouse")
    assert row["source_kind"] == "pipeline"
    assert row["quality_checks"] == 2
    assert row["failed_quality_checks"] == 0
    assert row["warning_quality_checks"] == 1


def test_quality_source_without_checks_shows_zero(quality_with_checks):
    assert _quality(quality_with_checks, "zendesk")["quality_checks"] == 0


@pytest.fixture
def quality_with_outcomes_only(raw):
    """A results table with outcomes but no `action` column."""
    raw.execute(
        "create table analytics.data_quality_results (run_id text, data_interval_end timestamptz, "
        "table_name text, check_name text, severity text, outcome text, value numeric, threshold numeric, "
        "message text, recorded_at timestamptz)"
    )
    checks = [
        ("raw_stripe.subscriptions", "failed", "critical"),
        ("analytics.mrr_monthly", "not_evaluated", "warning"),
        ("analytics.mrr_monthly", "passed", "critical"),
    ]
    for table_name, outcome, severity in checks:
        raw.execute(
            "insert into analytics.data_quality_results (run_id, table_name, check_name, severity, outcome, "
            "recorded_at) values ('run', %s, 'check', %s, %s, '2026-03-15T07:10:00Z')",
            (table_name, severity, outcome),
        )
    raw.commit()
    run_weekly_models(raw, AS_OF, only={"data_quality_weekly"})
    return raw


def test_quality_outcome_fallback(quality_with_outcomes_only):
    assert _quality(quality_with_outcomes_only, "stripe")["failed_quality_checks"] == 1
    assert _quality(quality_with_outcomes_only, "warehouse")["failed_quality_checks"] == 1
    assert _quality(quality_with_outcomes_only, "warehouse")["quality_checks"] == 2


def test_quality_rerun_replaces_week(quality_from_raw):
    run_weekly_models(quality_from_raw, AS_OF, only={"data_quality_weekly"})
    count = quality_from_raw.execute("select count(*) from analytics.data_quality_weekly").fetchone()[0]
    assert count == 6


# --- cohort deep dive -------------------------------------------------------------------------


def _month(index: int) -> dt.date:
    """The first day of month `index`, counted from 2025-01."""
    return dt.date(2025 + index // 12, index % 12 + 1, 1)


@pytest.fixture
def cohorts(raw):
    """Cohorts 2025-01 to 2026-03, where 2026-03 is the open (provisional) month.

    Each cohort has 10 customers and 1,000 MRR and keeps 90 % of its MRR at every later age.
    The average at each age is set to 0.8 by hand.
    """
    raw.execute("""
        create table analytics.cohort_retention (
            cohort_month date, month_start date, months_since_cohort integer, cohort_customers bigint,
            retained_customers bigint, cohort_mrr numeric, retained_mrr numeric, logo_retention numeric,
            revenue_retention numeric
        );
        create table analytics.cohort_retention_average (
            months_since_cohort integer, logo_retention numeric, revenue_retention numeric
        );
        create table analytics.mrr_monthly (
            month_start date, currency_basis text, is_provisional boolean, as_of timestamptz
        );
    """)
    last = 14
    for cohort in range(last + 1):
        for month in range(cohort, last + 1):
            retention = Decimal(1) if month == cohort else Decimal("0.9")
            raw.execute(
                "insert into analytics.cohort_retention values (%s, %s, %s, 10, 9, 1000, %s, 0.9, %s)",
                (_month(cohort), _month(month), month - cohort, 1000 * retention, retention),
            )
    for age in range(last + 1):
        raw.execute("insert into analytics.cohort_retention_average values (%s, 0.8, 0.8)", (age,))
    for month in range(last + 1):
        raw.execute(
            "insert into analytics.mrr_monthly values (%s, 'reporting', %s, '2026-03-16T07:00:00Z')",
            (_month(month), month == last),
        )
    raw.commit()
    return raw


def test_deep_dive_keeps_last_twelve_cohorts(cohorts):
    run_weekly_models(cohorts, AS_OF, only={"cohort_deep_dive_weekly"})
    first, last, count = cohorts.execute(
        "select min(cohort_month), max(cohort_month), count(distinct cohort_month) "
        "from analytics.cohort_deep_dive_weekly"
    ).fetchone()
    assert first == dt.date(2025, 3, 1)
    assert last == dt.date(2026, 2, 1)
    assert count == 12


def test_deep_dive_compares_with_average(cohorts):
    run_weekly_models(cohorts, AS_OF, only={"cohort_deep_dive_weekly"})
    value = cohorts.execute(
        "select revenue_retention_vs_average from analytics.cohort_deep_dive_weekly "
        "where cohort_month = '2025-06-01' and month_start = '2025-09-01'"
    ).fetchone()[0]
    assert value == Decimal("0.1")


def test_deep_dive_marks_open_month(cohorts):
    run_weekly_models(cohorts, AS_OF, only={"cohort_deep_dive_weekly"})
    provisional = cohorts.execute(
        "select distinct month_start from analytics.cohort_deep_dive_weekly where is_provisional"
    ).fetchall()
    assert provisional == [(dt.date(2026, 3, 1),)]


def test_deep_dive_week_over_week_change(cohorts):
    run_weekly_models(cohorts, AS_OF - dt.timedelta(days=7), only={"cohort_deep_dive_weekly"})
    cohorts.execute(
        "update analytics.cohort_retention set revenue_retention = 0.85 "
        "where cohort_month = '2026-01-01' and month_start = '2026-03-01'"
    )
    cohorts.commit()
    run_weekly_models(cohorts, AS_OF, only={"cohort_deep_dive_weekly"})
    previous, change = cohorts.execute(
        "select previous_week_revenue_retention, revenue_retention_week_change "
        "from analytics.cohort_deep_dive_weekly "
        "where week_start = %s and cohort_month = '2026-01-01' and month_start = '2026-03-01'",
        (REPORT_WEEK,),
    ).fetchone()
    assert previous == Decimal("0.9")
    assert change == Decimal("-0.05")


def test_deep_dive_rerun_replaces_week(cohorts):
    run_weekly_models(cohorts, AS_OF - dt.timedelta(days=7), only={"cohort_deep_dive_weekly"})
    run_weekly_models(cohorts, AS_OF, only={"cohort_deep_dive_weekly"})
    run_weekly_models(cohorts, AS_OF, only={"cohort_deep_dive_weekly"})
    weeks = cohorts.execute(
        "select week_start, count(*) from analytics.cohort_deep_dive_weekly group by week_start order by week_start"
    ).fetchall()
    assert [week for week, _ in weeks] == [PREVIOUS_WEEK, REPORT_WEEK]
    assert weeks[0][1] == weeks[1][1]
