"""Sources file validation and the ingestion task group built from it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from saas_metrics.ingestion import (
    INGESTION_MODE_ENV,
    SOURCES_FILE,
    SourcesConfigError,
    build_ingestion_group,
    load_sources,
)
from tests.fakes.dag_runs import START_DATE

SHIPPED_SOURCES = ["stripe", "product_postgres", "segment", "salesforce", "aws_cost_explorer", "zendesk"]

VALID = """
ingestion_mode: airbyte
airbyte:
  conn_id: airbyte_cloud
  deferrable: false
  poll_interval_seconds: 15
  timeout_seconds: 600
  on_zero_rows: fail
  health_conn_id: null
sources:
  stripe:
    connection_id: 3f0c2b8d-9e11-4f3a-9a57-6f1f3a6e2c5d
    sync_mode: incremental_append
    expected_frequency: 1h
  zendesk:
    connection_id: 1a2e3f4d-5c6b-4e37-b0c5-9d2b6c1e8f4a
    sync_mode: incremental_deduped_history
    expected_frequency: 15m
    timeout_seconds: 120
    on_zero_rows: ignore
"""


def write_sources(tmp_path, text):
    path = tmp_path / "sources.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_file_lists_six_sources():
    config = load_sources(environ={})

    assert [source.name for source in config.sources] == SHIPPED_SOURCES


def test_shipped_file_defaults_to_demo():
    assert load_sources(environ={}).mode == "demo"


@pytest.mark.parametrize(("value", "mode"), [("airbyte", "airbyte"), ("demo", "demo"), ("", "demo")])
def test_environment_overrides_mode(value, mode):
    assert load_sources(environ={INGESTION_MODE_ENV: value}).mode == mode


def test_invalid_environment_mode_rejected():
    with pytest.raises(SourcesConfigError, match=f"{INGESTION_MODE_ENV} is 'airbite'"):
        load_sources(environ={INGESTION_MODE_ENV: "airbite"})


def test_settings_and_overrides_loaded(tmp_path):
    config = load_sources(write_sources(tmp_path, VALID), environ={})
    stripe, zendesk = config.sources

    assert config.airbyte.conn_id == "airbyte_cloud"
    assert config.airbyte.health_conn_id is None
    assert stripe.timeout_seconds == 600
    assert stripe.on_zero_rows == "fail"
    assert zendesk.timeout_seconds == 120
    assert zendesk.on_zero_rows == "ignore"
    assert zendesk.expected_interval.total_seconds() == 900


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        (
            "    sync_mode: incremental_append\n",
            "    sync_mode: incremental_append\n    conection_id: x\n",
            "sources.stripe: unknown key 'conection_id'",
        ),
        (
            "ingestion_mode: airbyte\n",
            "ingestion_mode: airbyte\nschedule: daily\n",
            "top level: unknown key 'schedule'",
        ),
        (
            "  conn_id: airbyte_cloud\n",
            "  conn_id: airbyte_cloud\n  retries: 3\n",
            "airbyte: unknown key 'retries'",
        ),
        (
            "    connection_id: 3f0c2b8d-9e11-4f3a-9a57-6f1f3a6e2c5d\n",
            "",
            "sources.stripe: connection_id is missing",
        ),
        (
            "3f0c2b8d-9e11-4f3a-9a57-6f1f3a6e2c5d",
            "stripe-prod",
            "connection_id is 'stripe-prod', which is not a UUID",
        ),
        (
            "1a2e3f4d-5c6b-4e37-b0c5-9d2b6c1e8f4a",
            "3f0c2b8d-9e11-4f3a-9a57-6f1f3a6e2c5d",
            "also the connection of source stripe",
        ),
        ("sync_mode: incremental_append", "sync_mode: incremental", "sync_mode is 'incremental'"),
        ("ingestion_mode: airbyte", "ingestion_mode: live", "ingestion_mode is 'live'"),
        ("expected_frequency: 1h", "expected_frequency: hourly", "expected_frequency is 'hourly'"),
        ("on_zero_rows: fail", "on_zero_rows: panic", "airbyte.on_zero_rows is 'panic'"),
        ("timeout_seconds: 120", "timeout_seconds: -5", "sources.zendesk.timeout_seconds is -5"),
        ("deferrable: false", "deferrable: maybe", "airbyte.deferrable is 'maybe'"),
        ("  stripe:\n", "  Stripe-Billing:\n", "sources.Stripe-Billing: source names must be"),
    ],
    ids=[
        "unknown-source-key",
        "unknown-top-level-key",
        "unknown-airbyte-key",
        "missing-connection-id",
        "connection-id-not-uuid",
        "duplicate-connection-id",
        "bad-sync-mode",
        "bad-ingestion-mode",
        "bad-frequency",
        "bad-zero-rows-policy",
        "negative-timeout",
        "non-boolean-deferrable",
        "bad-source-name",
    ],
)
def test_invalid_sources_rejected(tmp_path, replace, by, message):
    assert replace in VALID, "the test case must change the valid file"
    path = write_sources(tmp_path, VALID.replace(replace, by))

    with pytest.raises(SourcesConfigError, match=message):
        load_sources(path, environ={})


def test_all_problems_reported_together(tmp_path):
    text = VALID.replace("sync_mode: incremental_append", "sync_mode: incremental").replace(
        "expected_frequency: 15m", ""
    )
    path = write_sources(tmp_path, text)

    with pytest.raises(SourcesConfigError) as raised:
        load_sources(path, environ={})
    assert "sync_mode is 'incremental'" in str(raised.value)
    assert "sources.zendesk: expected_frequency is missing" in str(raised.value)


def test_missing_file_named(tmp_path):
    with pytest.raises(SourcesConfigError, match="file not found"):
        load_sources(tmp_path / "absent.yml", environ={})


def test_group_absent_in_demo_mode():
    config = load_sources(environ={INGESTION_MODE_ENV: "demo"})

    assert build_ingestion_group(None, config=config) is None


def test_group_has_one_sync_per_source(monkeypatch):
    from airflow.sdk import DAG

    monkeypatch.setenv(INGESTION_MODE_ENV, "airbyte")
    with DAG(dag_id="ingestion_group_test", schedule=None, start_date=START_DATE) as dag:
        group = build_ingestion_group()

    assert group.group_id == "ingest"
    assert sorted(dag.task_ids) == sorted(f"ingest.sync_{name}" for name in SHIPPED_SOURCES)


def test_group_tasks_carry_source_settings(tmp_path):
    from airflow.sdk import DAG

    config = load_sources(write_sources(tmp_path, VALID), environ={})
    dag = DAG(dag_id="ingestion_group_settings", schedule=None, start_date=START_DATE)

    build_ingestion_group(dag, config=config)

    zendesk = dag.get_task("ingest.sync_zendesk")
    assert zendesk.connection_id == "1a2e3f4d-5c6b-4e37-b0c5-9d2b6c1e8f4a"
    assert zendesk.airbyte_conn_id == "airbyte_cloud"
    assert zendesk.deferrable is False
    assert zendesk.timeout == 120
    assert zendesk.on_zero_rows == "ignore"
    assert zendesk.poll_interval == 15
    assert zendesk.health_conn_id is None


def test_group_build_is_cheap_at_parse_time():
    # A fresh interpreter, as in the dag-processor: building the group must not import the
    # Airbyte SDK or fetch any Airflow connection.
    script = textwrap.dedent(
        """
        import sys
        from airflow.sdk import DAG, BaseHook
        def refuse(*args, **kwargs):
            raise AssertionError("a connection was fetched while building the group")
        BaseHook.get_connection = classmethod(refuse)
        from saas_metrics.ingestion import build_ingestion_group
        with DAG(dag_id="parse_check", schedule=None):
            build_ingestion_group()
        print("airbyte_api" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, INGESTION_MODE_ENV: "airbyte"},
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_shipped_file_is_where_loader_reads():
    assert SOURCES_FILE.name == "sources.yml"
    assert SOURCES_FILE.parent.name == "config"
