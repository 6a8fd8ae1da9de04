"""The contract lint: the shipped contracts pass it, and each kind of mistake is reported."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from saas_metrics.quality.lint import SCHEMA_FILE_NAME, SCHEMA_GAPS, lint_contract, main

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SODA_DIR = PROJECT_ROOT / "soda_checks"
SHIPPED_CONTRACTS = sorted(SODA_DIR.glob("*/*.yml"))
RAW_SOURCES = (
    "raw_stripe/subscriptions",
    "raw_product/events",
    "raw_segment/tracks",
    "raw_salesforce/opportunity",
    "raw_aws_cost/cost_and_usage",
    "raw_zendesk/tickets",
)

VALID_CONTRACT = """\
dataset: warehouse/${var.database}/analytics/orders
variables:
  database:
  closed_month_start:
  data_interval_end:
columns:
  - name: id
    checks:
      - missing:
          name: id_not_null
          attributes: {severity: critical}
checks:
  - row_count:
      name: has_rows
      threshold:
        must_be_greater_than: 0
      attributes: {severity: critical}
  - metric:
      name: recent_orders
      qualifier: recent_orders
      query: select count(*) from analytics.orders where month_start = '${var.closed_month_start}'
      threshold:
        must_be_greater_than: 0
        level: warn
      attributes: {severity: warning}
  - freshness:
      name: freshness
      column: ordered_at
      now_variable: data_interval_end
      threshold:
        unit: hour
        must_be_less_than_or_equal: 48
        additional:
          must_be_less_than_or_equal: 6
          level: warn
      attributes: {severity: critical}
"""


def _lint_text(tmp_path, text, relative="analytics/orders.yml"):
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return lint_contract(path, tmp_path)


def test_shipped_folder_passes_cli():
    result = subprocess.run(
        [sys.executable, "-m", "saas_metrics.quality.lint"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(SHIPPED_CONTRACTS)} contracts checked, 0 problems found" in result.stdout


@pytest.mark.parametrize("contract", SHIPPED_CONTRACTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_shipped_contract_is_clean(contract):
    assert lint_contract(contract, SODA_DIR) == []


def test_every_published_table_has_contract():
    from helpers.models import sql_model_tasks

    published = {task.target for task in sql_model_tasks() if task.target and task.target.startswith("analytics.")}
    covered = {f"{path.parent.name}.{path.stem}" for path in SHIPPED_CONTRACTS}
    assert published - covered == set()


@pytest.mark.parametrize("source", RAW_SOURCES)
def test_raw_source_has_freshness_check(source):
    text = (SODA_DIR / f"{source}.yml").read_text()
    assert re.search(
        r"- freshness:\n\s+name: freshness\n\s+column: _airbyte_extracted_at\n\s+now_variable: "
        r"data_interval_end",
        text,
    )


def test_valid_contract_passes(tmp_path):
    assert _lint_text(tmp_path, VALID_CONTRACT) == []


@pytest.mark.parametrize(
    ("original", "replacement", "expected"),
    [
        (
            "must_be_greater_than: 0\n      attributes: {severity: critical}",
            "must_be_greater_then: 0\n      attributes: {severity: critical}",
            "unknown threshold key 'must_be_greater_then'",
        ),
        (
            "level: warn\n      attributes: {severity: warning}",
            "level: warning\n      attributes: {severity: warning}",
            "unknown threshold level 'warning'",
        ),
        (
            "must_be_less_than_or_equal: 6\n",
            "must_be_less_then_or_equal: 6\n",
            "unknown key 'must_be_less_then_or_equal' in the additional threshold",
        ),
        ("      name: has_rows\n", "", "checks[0] (row_count) has no name"),
        ("name: recent_orders\n", "name: has_rows\n", "repeats the name 'has_rows'"),
        ("query: select count(*)", "query: select '${env.PGPASSWORD}', count(*)", "contains '${env.'"),
        ("checks:\n  - row_count", "checks:\n  - [row_count", "invalid YAML"),
        ("analytics/orders", "analytics/order", "expected 'warehouse/${var.database}/analytics/orders'"),
        ("  closed_month_start:\n", "", "uses ${var.closed_month_start} without declaring"),
        ("  database:\n", "  database:\n  run_date:\n", "declares variable 'run_date'"),
        (
            "attributes: {severity: warning}",
            "attributes: {severity: critical}",
            "attributes.severity is 'critical' but its threshold levels ['warn'] make it 'warning'",
        ),
        (
            "name: id_not_null\n          attributes: {severity: critical}",
            "name: id_not_null",
            "attributes.severity is None; set it to 'critical'",
        ),
        ("column: ordered_at", "column: ordered_at\n      colunm: ordered_at", "schema: Additional properties"),
    ],
    ids=[
        "threshold key",
        "level",
        "additional key",
        "missing name",
        "duplicate name",
        "env reference",
        "broken yaml",
        "dataset",
        "undeclared variable",
        "unknown variable",
        "severity mismatch",
        "missing severity",
        "schema",
    ],
)
def test_mistake_is_reported(tmp_path, original, replacement, expected):
    assert original in VALID_CONTRACT
    problems = _lint_text(tmp_path, VALID_CONTRACT.replace(original, replacement, 1))
    assert any(expected in problem for problem in problems), problems


def test_misplaced_file_is_reported(tmp_path):
    problems = _lint_text(tmp_path, VALID_CONTRACT, relative="orders.yml")
    assert any("must be at <schema>/<table>.yml" in problem for problem in problems)


def test_cli_fails_on_problem(tmp_path, capsys):
    _lint_text(tmp_path, VALID_CONTRACT.replace("      name: has_rows\n", ""))
    assert main([str(tmp_path)]) == 1
    assert "has no name" in capsys.readouterr().out


def test_cli_fails_without_contracts(tmp_path):
    assert main([str(tmp_path)]) == 2


GAP_CHECKS = {
    "metric": {"name": "gap", "query": "select 1", "threshold": {"must_be": 0}},
    "failed_rows": {"name": "gap", "query": "select 1", "threshold": {"must_be": 0}},
    "freshness": {"name": "gap", "column": "updated_at", "threshold": {"unit": "hour", "must_be_less_than": 1}},
}
GAP_VALUES = {"attributes": {"severity": "critical"}, "now_variable": "data_interval_end"}


def _packaged_schema_errors(check_type, body):
    import jsonschema
    import soda_core.contracts

    schema = json.loads((Path(soda_core.contracts.__file__).parent / SCHEMA_FILE_NAME).read_text())
    contract = {"dataset": "warehouse/db/analytics/t", "columns": [], "checks": [{check_type: body}]}
    return list(jsonschema.Draft202012Validator(schema).iter_errors(contract))


@pytest.mark.parametrize(("check_type", "key"), [(name, key) for name, keys in SCHEMA_GAPS.items() for key in keys])
def test_packaged_schema_still_lacks_gap(check_type, key):
    """When this fails, Soda's packaged schema accepts the key: remove it from SCHEMA_GAPS."""
    body = GAP_CHECKS[check_type]
    assert _packaged_schema_errors(check_type, body) == []
    assert _packaged_schema_errors(check_type, {**body, key: GAP_VALUES[key]}) != []
