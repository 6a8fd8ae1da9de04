"""QualityGateOperator with real Soda Core against the real PostgreSQL server.

Each test writes a small contract for analytics.orders (three rows, one with a null amount) and
checks the action the gate takes on the outcome Soda reports.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from airflow.sdk.exceptions import AirflowFailException

from helpers.airflow_runs import run_dag
from helpers.quality import INTERVAL_END, ORDERS_TABLE, gate_context, write_contract
from saas_metrics.operators.quality_gate import QualityGateBlocked, QualityGateOperator

ID_NOT_NULL = """
    - name: id
      checks:
        - missing:
            name: id_not_null
            attributes: {severity: critical}
"""
HAS_ROWS = """
    - row_count:
        name: has_rows
        attributes: {severity: critical}
"""


def _metric(name: str, query: str, threshold: str, severity: str) -> str:
    return f"""
    - metric:
        name: {name}
        qualifier: {name}
        query: {query}
        threshold: {threshold}
        attributes: {{severity: {severity}}}
"""


AMOUNT_TOTAL_AT_MOST_5 = _metric(
    "amount_total_at_most_5", "select sum(amount) from analytics.orders", "{must_be_less_than_or_equal: 5}", "critical"
)
AMOUNT_TOTAL_WARNS = _metric(
    "amount_total_warns",
    "select sum(amount) from analytics.orders",
    "{must_be_less_than_or_equal: 5, level: warn}",
    "warning",
)
CRITICAL_WITHOUT_VALUE = _metric(
    "critical_without_value", "select max(amount) from analytics.orders where false", "{must_be: 0}", "critical"
)
WARNING_WITHOUT_VALUE = _metric(
    "warning_without_value",
    "select max(amount) from analytics.orders where false",
    "{must_be: 0, level: warn}",
    "warning",
)


@pytest.fixture
def orders(warehouse_db):
    with warehouse_db.connect() as conn:
        conn.execute(ORDERS_TABLE)
    return warehouse_db


@pytest.fixture
def sent_warnings(monkeypatch):
    """Warnings passed to notify_quality_warnings, instead of logging and sending them."""
    sent = []
    monkeypatch.setattr(
        "saas_metrics.notifiers.quality.notify_quality_warnings", lambda context, warnings: sent.extend(warnings)
    )
    return sent


def _gate(tmp_path, **kwargs) -> QualityGateOperator:
    return QualityGateOperator(task_id="quality_gate", contracts_folder=str(tmp_path), **kwargs)


def _stored(warehouse_db, run_id="manual__test"):
    return warehouse_db.query(
        "select check_name, outcome, action, severity, value, threshold from analytics.data_quality_results "
        "where run_id = %s order by check_name",
        (run_id,),
    )


def test_passing_checks_return_summary(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS, columns=ID_NOT_NULL)
    summary = _gate(tmp_path).execute(gate_context())
    assert summary["counts_by_action"] == {"pass": 2}
    assert summary["blocking"] == []
    assert sent_warnings == []


def test_every_result_is_stored(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS + AMOUNT_TOTAL_WARNS, columns=ID_NOT_NULL)
    _gate(tmp_path).execute(gate_context())
    rows = _stored(orders)
    assert [(name, outcome, action) for name, outcome, action, *_ in rows] == [
        ("amount_total_warns", "warn", "warn"),
        ("has_rows", "passed", "pass"),
        ("id_not_null", "passed", "pass"),
    ]
    assert rows[0][3:] == ("warning", 30, "must be <= 5 (warn)")


def test_rerun_replaces_stored_results(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS, columns=ID_NOT_NULL)
    _gate(tmp_path).execute(gate_context())
    _gate(tmp_path).execute(gate_context())
    assert len(_stored(orders)) == 2


def test_other_runs_keep_their_results(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS, columns=ID_NOT_NULL)
    _gate(tmp_path).execute(gate_context(run_id="manual__first"))
    _gate(tmp_path).execute(gate_context(run_id="manual__second"))
    assert len(_stored(orders, "manual__first")) == 2


def test_stored_interval_end_is_run_interval_end(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS)
    _gate(tmp_path).execute(gate_context())
    assert orders.query("select distinct data_interval_end from analytics.data_quality_results") == [(INTERVAL_END,)]


def test_warning_notifies_and_continues(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS + AMOUNT_TOTAL_WARNS)
    summary = _gate(tmp_path).execute(gate_context())
    assert [warning.check_name for warning in sent_warnings] == ["amount_total_warns"]
    assert summary["blocking"] == []


def test_failed_critical_check_blocks(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS + AMOUNT_TOTAL_AT_MOST_5)
    with pytest.raises(AirflowFailException) as raised:
        _gate(tmp_path).execute(gate_context())
    message = str(raised.value)
    assert "analytics.orders / amount_total_at_most_5 (critical): failed" in message
    assert "value 30" in message
    assert "threshold must be <= 5 (fail)" in message
    assert "has_rows" not in message


def test_blocked_results_are_stored(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", AMOUNT_TOTAL_AT_MOST_5)
    with pytest.raises(AirflowFailException):
        _gate(tmp_path).execute(gate_context())
    assert [row[:3] for row in _stored(orders)] == [("amount_total_at_most_5", "failed", "block")]


def test_not_evaluated_critical_check_blocks(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS + CRITICAL_WITHOUT_VALUE)
    with pytest.raises(AirflowFailException) as raised:
        _gate(tmp_path).execute(gate_context())
    assert "critical_without_value (critical): not evaluated" in str(raised.value)


def test_not_evaluated_warning_check_warns(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS + WARNING_WITHOUT_VALUE)
    summary = _gate(tmp_path).execute(gate_context())
    assert [(warning.check_name, warning.outcome) for warning in sent_warnings] == [
        ("warning_without_value", "not_evaluated")
    ]
    assert summary["blocking"] == []


def test_missing_table_blocks_as_error(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.shipments", HAS_ROWS)
    with pytest.raises(QualityGateBlocked) as raised:
        _gate(tmp_path).execute(gate_context())
    message = str(raised.value)
    assert "analytics.shipments / contract_verification (critical): error" in message
    assert 'relation "analytics.shipments" does not exist' in message


def test_missing_column_blocks_as_error(orders, tmp_path, sent_warnings):
    columns = """
    - name: customer_id
      checks:
        - missing:
            name: customer_id_not_null
            attributes: {severity: critical}
"""
    write_contract(tmp_path, "analytics.orders", HAS_ROWS, columns=columns)
    with pytest.raises(QualityGateBlocked) as raised:
        _gate(tmp_path).execute(gate_context())
    message = str(raised.value)
    assert 'column "customer_id" does not exist' in message
    assert "customer_id_not_null (critical): not evaluated" in message


def test_bad_credentials_block_without_leaking_password(orders, tmp_path, sent_warnings, monkeypatch):
    bad_uri = orders.uri.replace("postgresql://postgres@", "postgresql://nobody_here:s3cret-pw@")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", bad_uri)
    write_contract(tmp_path, "analytics.orders", HAS_ROWS)
    with pytest.raises(QualityGateBlocked) as raised:
        _gate(tmp_path).execute(gate_context())
    message = str(raised.value)
    assert 'role "nobody_here" does not exist' in message
    assert "The results could not be stored" in message
    assert "s3cret-pw" not in message


def test_broken_yaml_blocks_naming_file(orders, tmp_path, sent_warnings):
    path = write_contract(tmp_path, "analytics.orders", HAS_ROWS)
    path.write_text(path.read_text().replace("checks:\n", "checks: [\n"))
    with pytest.raises(QualityGateBlocked) as raised:
        _gate(tmp_path).execute(gate_context())
    message = str(raised.value)
    assert "analytics.orders / contract_verification (critical): error: invalid contract" in message
    assert "invalid YAML" in message


def test_misspelled_threshold_key_blocks(orders, tmp_path, sent_warnings):
    # Soda itself would run this check with its default threshold (row_count > 0) and pass it.
    misspelled = HAS_ROWS.replace("name: has_rows", "name: has_rows\n        threshold: {must_be_greater_then: 100}")
    write_contract(tmp_path, "analytics.orders", misspelled)
    with pytest.raises(QualityGateBlocked) as raised:
        _gate(tmp_path).execute(gate_context())
    message = str(raised.value)
    assert "unknown threshold key 'must_be_greater_then'" in message
    assert [row[:3] for row in _stored(orders)][0] == ("contract_verification", "error", "block")


def test_misspelled_level_blocks(orders, tmp_path, sent_warnings):
    misspelled = AMOUNT_TOTAL_WARNS.replace("level: warn", "level: warning")
    write_contract(tmp_path, "analytics.orders", misspelled)
    with pytest.raises(QualityGateBlocked) as raised:
        _gate(tmp_path).execute(gate_context())
    assert "unknown threshold level 'warning'" in str(raised.value)


def test_one_broken_contract_keeps_others(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS)
    write_contract(tmp_path, "analytics.shipments", HAS_ROWS)
    with pytest.raises(QualityGateBlocked):
        _gate(tmp_path).execute(gate_context())
    rows = orders.query("select table_name, check_name, outcome from analytics.data_quality_results order by 1, 2")
    assert rows == [
        ("analytics.orders", "has_rows", "passed"),
        ("analytics.shipments", "contract_verification", "error"),
        ("analytics.shipments", "has_rows", "not_evaluated"),
    ]


def test_excluded_check_is_recorded(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS + AMOUNT_TOTAL_AT_MOST_5)
    summary = _gate(tmp_path, exclude_checks=["amount_total_at_most_5"]).execute(gate_context())
    assert summary["counts_by_action"] == {"pass": 1, "skip": 1}
    assert [row[:3] for row in _stored(orders)][0] == ("amount_total_at_most_5", "excluded", "skip")


def test_unmatched_contract_pattern_fails(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS)
    with pytest.raises(FileNotFoundError):
        _gate(tmp_path, contracts=["analytics/order.yml"]).execute(gate_context())


def test_blocking_returned_when_not_failing(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS + AMOUNT_TOTAL_AT_MOST_5)
    summary = _gate(tmp_path, fail_on_blocking=False).execute(gate_context())
    assert [record["check_name"] for record in summary["blocking"]] == ["amount_total_at_most_5"]


def test_errors_fail_even_when_not_failing(orders, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.shipments", HAS_ROWS)
    with pytest.raises(QualityGateBlocked):
        _gate(tmp_path, fail_on_blocking=False).execute(gate_context())


def test_run_variables_reach_contract(orders, tmp_path, sent_warnings):
    checks = _metric(
        "orders_before_interval_end",
        "select count(*) from analytics.orders where ordered_at < '${var.data_interval_end}'::timestamptz"
        " and '${var.closed_month_start}'::date = date '2026-02-01'",
        "{must_be: 3}",
        "critical",
    )
    write_contract(tmp_path, "analytics.orders", checks, variables="data_interval_end:\nclosed_month_start:")
    summary = _gate(tmp_path).execute(gate_context())
    assert summary["counts_by_action"] == {"pass": 1}


def test_soda_telemetry_stays_off():
    """A fresh process that imports the gate's Soda glue keeps OpenTelemetry's default provider."""
    script = (
        "import saas_metrics.quality.runner, soda_core.contracts\n"
        "from opentelemetry import trace\n"
        "print(type(trace.get_tracer_provider()).__name__)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("SODA_")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "ProxyTracerProvider"


def _gate_dag(dag_id, tmp_path):
    import pendulum
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    with DAG(dag_id=dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
        gate = _gate(tmp_path)
        publish = EmptyOperator(task_id="publish")
        gate >> publish
    return dag


def _task_states(dag_run):
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_failed_gate_stops_downstream(orders, airflow_db, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS + AMOUNT_TOTAL_AT_MOST_5)
    dag_run = run_dag(_gate_dag("quality_gate_blocks", tmp_path), logical_date=dt.datetime(2026, 3, 15, tzinfo=dt.UTC))
    assert _task_states(dag_run) == {"quality_gate": "failed", "publish": "upstream_failed"}
    assert dag_run.state == "failed"


def test_passed_gate_runs_downstream(orders, airflow_db, tmp_path, sent_warnings):
    write_contract(tmp_path, "analytics.orders", HAS_ROWS)
    dag_run = run_dag(_gate_dag("quality_gate_passes", tmp_path), logical_date=dt.datetime(2026, 3, 15, tzinfo=dt.UTC))
    assert _task_states(dag_run) == {"quality_gate": "success", "publish": "success"}
