"""The template runner against the real PostgreSQL server, on the hand-made product data.

Expected results follow the rows in helpers/governance_warehouse.py:
- adoption of report_exported within 30 days: January cohort u1 (2 days) and u2 (54 days, too
  late), February cohort u3 (10 days) and u4 (never);
- funnel signup_completed > workspace_created > teammate_invited in March, 7-day window: u1
  completes it, u2 reaches step 2 too late, u3 invited a teammate only before signing up;
- experiment onboarding_v2: control u1 (converted) and u2, treatment u3 (converted); u4 was
  assigned to both variants and is left out.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from helpers.governance_warehouse import shipped_config_data
from saas_metrics.governance.self_service import (
    GuardrailError,
    TemplateQueryError,
    estimate_scanned_rows,
    run_template,
)
from saas_metrics.governance.templates import (
    AB_TEST_RESULTS,
    FEATURE_ADOPTION,
    FUNNEL_DROP_OFF,
    TemplateParameterError,
)

AS_OF = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
ADOPTION = {
    "feature_event": "report_exported",
    "signup_from": "2026-01-01",
    "signup_to": "2026-02-28",
    "cohort_grain": "month",
    "adoption_window_days": 30,
}
FUNNEL = {
    "funnel_steps": ["signup_completed", "workspace_created", "teammate_invited"],
    "date_from": "2026-03-01",
    "date_to": "2026-03-31",
    "segment": "all",
    "conversion_window_days": 7,
}
EXPERIMENT = {
    "experiment_id": "onboarding_v2",
    "conversion_event": "teammate_invited",
    "control_variant": "control",
    "assignment_event": "experiment_assigned",
    "conversion_window_days": 14,
    "confidence_level": 0.95,
}


def _run(governed, template, values, tmp_path, data=None):
    with governed.db.connect() as conn:
        return run_template(
            conn,
            template,
            values,
            config=governed.config(data),
            requested_by="ann.pm",
            as_of=AS_OF,
            dag_id="self_service_test",
            dag_run_id="manual__test",
            output_dir=tmp_path,
        )


def _audit_log(governed):
    return governed.db.query(
        "select requested_by, executed_as_role, template_name, is_template_run, outcome, rows_returned, "
        "error from analytics.query_audit_log order by started_at"
    )


def _with_limits(**limits):
    data = shipped_config_data()
    data["roles"]["product_manager"]["limits"].update(limits)
    return data


def _custom_template(tmp_path, query):
    path = tmp_path / "custom.sql"
    path.write_text(query)
    return dataclasses.replace(
        FEATURE_ADOPTION, name="custom", sql_file=path, result_columns=(("x", "integer"),), post_process=None
    )


def test_feature_adoption_by_cohort(governed, tmp_path):
    run = _run(governed, FEATURE_ADOPTION, ADOPTION, tmp_path)
    assert run.rows == [
        {
            "cohort_start": dt.date(2026, 1, 1),
            "cohort_users": 2,
            "adopted_users": 1,
            "adoption_rate": Decimal("0.5000"),
            "median_days_to_adopt": Decimal("2.00"),
            "is_window_complete": True,
        },
        {
            "cohort_start": dt.date(2026, 2, 1),
            "cohort_users": 2,
            "adopted_users": 1,
            "adoption_rate": Decimal("0.5000"),
            "median_days_to_adopt": Decimal("10.00"),
            "is_window_complete": True,
        },
    ]


def test_adoption_window_incomplete(governed, tmp_path):
    with governed.db.connect() as conn:
        run = run_template(
            conn,
            FEATURE_ADOPTION,
            {**ADOPTION, "signup_to": "2026-01-31"},
            config=governed.config(),
            requested_by="ann.pm",
            as_of=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
            output_dir=tmp_path,
        )
    assert [row["is_window_complete"] for row in run.rows] == [False]


def test_funnel_drop_off(governed, tmp_path):
    run = _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path)
    steps = [
        (row["step_number"], row["event_name"], row["reached_users"], row["dropped_users"])
        for row in run.rows
    ]
    assert steps == [
        (1, "signup_completed", 3, 0),
        (2, "workspace_created", 2, 1),
        (3, "teammate_invited", 1, 1),
    ]
    assert [row["conversion_from_previous"] for row in run.rows] == [
        None,
        Decimal("0.6667"),
        Decimal("0.5000"),
    ]
    assert [row["conversion_from_first"] for row in run.rows] == [
        Decimal("1.0000"),
        Decimal("0.6667"),
        Decimal("0.3333"),
    ]


def test_funnel_segment(governed, tmp_path):
    run = _run(governed, FUNNEL_DROP_OFF, {**FUNNEL, "segment": "pro"}, tmp_path)
    assert [row["reached_users"] for row in run.rows] == [2, 1, 1]


def test_ab_test_counts(governed, tmp_path):
    run = _run(governed, AB_TEST_RESULTS, EXPERIMENT, tmp_path)
    counts = [
        (row["variant"], row["is_control"], row["assigned_users"], row["converted_users"]) for row in run.rows
    ]
    assert counts == [("control", True, 2, 1), ("treatment", False, 1, 1)]


def test_ab_test_statistics(governed, tmp_path):
    """Control 1/2, treatment 1/1: pooled rate 2/3, z = 0.5 / sqrt(2/9 * 1.5) = 0.866025."""
    treatment = _run(governed, AB_TEST_RESULTS, EXPERIMENT, tmp_path).rows[1]
    assert treatment["difference_vs_control"] == pytest.approx(0.5)
    assert treatment["z_score"] == pytest.approx(0.866025, abs=1e-6)
    assert treatment["p_value"] == pytest.approx(0.386476, abs=1e-6)
    assert treatment["is_significant"] is False


def test_ab_test_missing_control_rejected(governed, tmp_path):
    with pytest.raises(TemplateParameterError, match="no users in control variant 'baseline'"):
        _run(governed, AB_TEST_RESULTS, {**EXPERIMENT, "control_variant": "baseline"}, tmp_path)


def test_results_written_to_table(governed, tmp_path):
    run = _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path)
    rows = governed.db.query(
        "select step_number, reached_users from analytics.self_service_funnel_drop_off where query_id = %s "
        "order by step_number",
        (run.query_id,),
    )
    assert rows == [(1, 3), (2, 2), (3, 1)]


def test_results_written_to_csv(governed, tmp_path):
    run = _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path)
    with run.output_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert run.output_path.parent == tmp_path / "self_service" / "funnel_drop_off"
    assert [row["reached_users"] for row in rows] == ["3", "2", "1"]


def test_run_recorded_in_audit_log(governed, tmp_path):
    _run(governed, FEATURE_ADOPTION, ADOPTION, tmp_path)
    assert _audit_log(governed) == [
        (
            "ann.pm",
            governed.role("product_manager"),
            "feature_adoption_by_cohort",
            True,
            "succeeded",
            2,
            None,
        )
    ]


def test_audit_log_keeps_bound_parameters(governed, tmp_path):
    _run(governed, FEATURE_ADOPTION, {**ADOPTION, "signup_from": None}, tmp_path)
    parameters = governed.db.query("select query_parameters from analytics.query_audit_log")[0][0]
    assert parameters["feature_event"] == "report_exported"
    assert parameters["signup_from"] == "2025-12-01"


def test_results_readable_by_manager_after_apply(governed, tmp_path):
    _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path)
    governed.apply()
    query = "select count(*) from analytics.self_service_funnel_drop_off"
    assert governed.query_as(governed.login("product_manager"), query) == [(3,)]


def test_scan_limit_rejects_query(governed, tmp_path):
    with pytest.raises(GuardrailError, match="would scan about"):
        _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path, data=_with_limits(max_scan_rows=10))


def test_rejected_query_recorded(governed, tmp_path):
    with pytest.raises(GuardrailError):
        _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path, data=_with_limits(max_scan_rows=10))
    statuses = [row[4] for row in _audit_log(governed)]
    results = governed.db.query("select count(*) from analytics.self_service_funnel_drop_off")
    assert statuses == ["rejected"]
    assert results == [(0,)]


def test_scan_estimate_counts_tables(governed, tmp_path):
    run = _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path)
    # The query reads product_events (19 rows) and product_workspaces (2 rows) at least once.
    assert run.estimated_scan_rows >= 21


def test_concurrency_slots_reject_fourth_query(governed, tmp_path):
    role = governed.role("product_manager")
    with governed.db.connect(autocommit=True) as holder:
        for slot in range(3):
            holder.execute("select pg_advisory_lock(hashtext(%s), %s)", (role, slot))
        with pytest.raises(GuardrailError, match="3 .* template queries are already running"):
            _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path)


def test_free_slot_lets_query_run(governed, tmp_path):
    role = governed.role("product_manager")
    with governed.db.connect(autocommit=True) as holder:
        for slot in range(2):
            holder.execute("select pg_advisory_lock(hashtext(%s), %s)", (role, slot))
        run = _run(governed, FUNNEL_DROP_OFF, FUNNEL, tmp_path)
    assert len(run.rows) == 3


def test_template_runs_as_manager(governed, tmp_path):
    template = _custom_template(tmp_path, "select 1 as x from staging.product_users limit 1")
    with pytest.raises(TemplateQueryError, match="permission denied for schema staging"):
        _run(governed, template, ADOPTION, tmp_path)


def test_runtime_limit_cancels_template(governed, tmp_path):
    template = _custom_template(tmp_path, "select 1 as x from pg_sleep(3)")
    with pytest.raises(TemplateQueryError, match="cancelled after the 1 s runtime limit") as raised:
        _run(governed, template, ADOPTION, tmp_path, data=_with_limits(max_runtime_seconds=1))
    assert raised.value.is_retryable is False


def test_failed_query_recorded(governed, tmp_path):
    template = _custom_template(tmp_path, "select 1 as x from pg_sleep(3)")
    with pytest.raises(TemplateQueryError):
        _run(governed, template, ADOPTION, tmp_path, data=_with_limits(max_runtime_seconds=1))
    assert [row[4] for row in _audit_log(governed)] == ["failed"]


def test_role_reset_after_run(governed, tmp_path):
    with governed.db.connect() as conn:
        run_template(
            conn,
            FUNNEL_DROP_OFF,
            FUNNEL,
            config=governed.config(),
            requested_by="ann.pm",
            as_of=AS_OF,
            output_dir=tmp_path,
        )
        user = conn.execute("select current_user, current_setting('statement_timeout')").fetchone()
    assert user == ("postgres", "0")


def _source_row_counts(governed):
    return governed.db.query(
        "select (select count(*) from staging.product_events), (select count(*) from staging.product_users)"
    )


@pytest.mark.parametrize(
    "feature_event",
    ["report_exported' or '1'='1", "x'); drop table staging.product_events; --"],
    ids=["quote", "drop"],
)
def test_injection_in_feature_matches_nothing(governed, tmp_path, feature_event):
    run = _run(governed, FEATURE_ADOPTION, {**ADOPTION, "feature_event": feature_event}, tmp_path)
    assert [row["adopted_users"] for row in run.rows] == [0, 0]
    assert _source_row_counts(governed) == [(19, 4)]


def test_injection_in_segment_matches_nothing(governed, tmp_path):
    run = _run(governed, FUNNEL_DROP_OFF, {**FUNNEL, "segment": "all' or 1=1 --"}, tmp_path)
    assert [row["reached_users"] for row in run.rows] == [0, 0, 0]


def test_injection_in_step_matches_nothing(governed, tmp_path):
    steps = ["signup_completed", "'); delete from staging.product_users; --"]
    run = _run(governed, FUNNEL_DROP_OFF, {**FUNNEL, "funnel_steps": steps}, tmp_path)
    assert [row["reached_users"] for row in run.rows] == [3, 0]
    assert _source_row_counts(governed) == [(19, 4)]


def test_injection_in_experiment_finds_no_variant(governed, tmp_path):
    values = {**EXPERIMENT, "experiment_id": "x' union select 'control', 1, 1 --"}
    with pytest.raises(TemplateParameterError, match="variants found: \\[\\]"):
        _run(governed, AB_TEST_RESULTS, values, tmp_path)


@pytest.mark.parametrize(
    ("template", "values", "message"),
    [
        (FEATURE_ADOPTION, {**ADOPTION, "signup_from": "2026-03-01"}, "is after signup_to"),
        (FEATURE_ADOPTION, {**ADOPTION, "signup_to": "31/01/2026"}, "YYYY-MM-DD"),
        (FEATURE_ADOPTION, {**ADOPTION, "cohort_grain": "day"}, "cohort_grain must be one of"),
        (FEATURE_ADOPTION, {**ADOPTION, "feature_event": ""}, "feature_event is required"),
        (FUNNEL_DROP_OFF, {**FUNNEL, "funnel_steps": ["a"]}, "2 to 10 event names"),
        (FUNNEL_DROP_OFF, {**FUNNEL, "funnel_steps": ["a", "b", "a"]}, "names an event twice"),
        (FUNNEL_DROP_OFF, {**FUNNEL, "conversion_window_days": 0}, "integer from 1 to 90"),
        (AB_TEST_RESULTS, {**EXPERIMENT, "confidence_level": 95}, "number from 0.5 to 0.999"),
    ],
)
def test_invalid_parameters_rejected(governed, tmp_path, template, values, message):
    with pytest.raises(TemplateParameterError, match=message):
        _run(governed, template, values, tmp_path)


def test_invalid_parameters_recorded(governed, tmp_path):
    with pytest.raises(TemplateParameterError):
        _run(governed, FUNNEL_DROP_OFF, {**FUNNEL, "funnel_steps": ["a"]}, tmp_path)
    assert [row[4] for row in _audit_log(governed)] == ["rejected"]


def test_missing_role_fails_clearly(warehouse, tmp_path):
    with (
        warehouse.db.connect() as conn,
        pytest.raises(TemplateQueryError, match="run the warehouse_governance"),
    ):
        run_template(
            conn,
            FUNNEL_DROP_OFF,
            FUNNEL,
            config=warehouse.config(),
            requested_by="ann.pm",
            as_of=AS_OF,
            output_dir=tmp_path,
        )


def test_estimate_multiplies_nested_loop_inner_side():
    plan = {
        "Plan": {
            "Node Type": "Nested Loop",
            "Plan Rows": 50,
            "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "a", "Schema": "s", "Plan Rows": 10},
                {"Node Type": "Index Scan", "Relation Name": "b", "Schema": "s", "Plan Rows": 5},
            ],
        }
    }
    assert estimate_scanned_rows(plan, lambda schema, relation: 1000.0) == 1000 + 10 * 5


def test_estimate_uses_table_size_for_full_scans():
    plan = {"Plan": {"Node Type": "Seq Scan", "Relation Name": "a", "Schema": "s", "Plan Rows": 3}}
    assert estimate_scanned_rows(plan, lambda schema, relation: 5_000_000.0) == 5_000_000


def test_estimate_without_statistics_uses_plan_rows():
    plan = {"Plan": {"Node Type": "Seq Scan", "Relation Name": "a", "Schema": "s", "Plan Rows": 3}}
    assert estimate_scanned_rows(plan, lambda schema, relation: None) == 3
