"""The governance and self-service DAG files, run through real Airflow (dag.test())."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from helpers.airflow_runs import run_dag
from saas_metrics import paths

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
TEMPLATE_DAG_IDS = [
    "self_service_feature_adoption_by_cohort",
    "self_service_funnel_drop_off",
    "self_service_ab_test_results",
]


@pytest.fixture
def airflow_env(monkeypatch, tmp_path):
    """Point the DAGs at this test's roles and output folder, and fail tasks without retries."""

    def configure(prefix: str):
        monkeypatch.setenv("SAAS_METRICS_GOVERNANCE_ROLE_PREFIX", prefix)
        monkeypatch.setenv("SAAS_METRICS_TASK_RETRIES", "0")
        monkeypatch.setattr(paths, "OUTPUT_DIR", tmp_path)
        return tmp_path

    return configure


def _load_dag(file_name: str, dag_id: str):
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / file_name))
    assert not bag.import_errors
    return bag.dags[dag_id]


def test_template_dags_have_forms():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / "self_service_templates.py"))
    assert sorted(bag.dags) == sorted(TEMPLATE_DAG_IDS)
    assert bag.dags["self_service_funnel_drop_off"].params["funnel_steps"] == [
        "signup_completed",
        "workspace_created",
        "teammate_invited",
    ]


def test_form_rejects_invalid_values():
    from airflow.sdk.exceptions import ParamValidationError

    params = _load_dag("self_service_templates.py", "self_service_feature_adoption_by_cohort").params
    with pytest.raises(ParamValidationError):
        params.validate()  # feature_event has no default: the form requires it


def test_governance_dag_applies_roles(warehouse, airflow_db, airflow_env):
    airflow_env(warehouse.prefix)
    dag = _load_dag("warehouse_governance.py", "warehouse_governance")
    run = run_dag(dag, logical_date=dt.datetime(2026, 3, 2, 7, 30, tzinfo=dt.UTC))
    roles = warehouse.db.query(
        "select count(*) from pg_roles where starts_with(rolname, %s)", (warehouse.prefix,)
    )
    assert run.state == "success"
    assert roles == [(5,)]


def test_funnel_dag_runs_as_manager(governed, airflow_db, airflow_env):
    output_dir = airflow_env(governed.prefix)
    dag = _load_dag("self_service_templates.py", "self_service_funnel_drop_off")
    run = run_dag(
        dag,
        logical_date=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
        run_conf={"date_from": "2026-03-01", "date_to": "2026-03-31"},
    )
    results = governed.db.query(
        "select step_number, reached_users from analytics.self_service_funnel_drop_off"
    )
    audit = governed.db.query(
        "select requested_by, executed_as_role, outcome, dag_id from analytics.query_audit_log"
    )
    assert run.state == "success"
    assert sorted(results) == [(1, 3), (2, 2), (3, 1)]
    assert audit == [
        ("dag_test", governed.role("product_manager"), "succeeded", "self_service_funnel_drop_off")
    ]
    assert len(list((output_dir / "self_service" / "funnel_drop_off").glob("*.csv"))) == 1


def test_invalid_form_values_rejected_before_run(governed, airflow_db, airflow_env):
    from airflow.sdk.exceptions import ParamValidationError

    airflow_env(governed.prefix)
    dag = _load_dag("self_service_templates.py", "self_service_funnel_drop_off")
    with pytest.raises(ParamValidationError, match="non-unique elements"):
        run_dag(
            dag,
            logical_date=dt.datetime(2026, 4, 2, tzinfo=dt.UTC),
            run_conf={"funnel_steps": ["signup_completed", "signup_completed"]},
        )


def test_rejected_template_fails_dag(governed, airflow_db, airflow_env):
    airflow_env(governed.prefix)
    dag = _load_dag("self_service_templates.py", "self_service_funnel_drop_off")
    with governed.db.connect(autocommit=True) as holder:
        for slot in range(3):
            holder.execute(
                "select pg_advisory_lock(hashtext(%s), %s)", (governed.role("product_manager"), slot)
            )
        run = run_dag(dag, logical_date=dt.datetime(2026, 4, 3, tzinfo=dt.UTC))
    statuses = governed.db.query("select outcome from analytics.query_audit_log")
    assert run.state == "failed"
    assert statuses == [("rejected",)]
