"""Every DAG file imports cleanly, parses without touching databases, and follows the DAG policy."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from unittest import mock

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))
ALLOWED_TAGS = {"metrics", "daily", "weekly", "monthly", "board", "quality", "governance", "ingestion"}
MAX_PARSE_SECONDS = 1.0


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_dag_folder_has_dags():
    assert DAG_FILES


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_dag_file_imports_cleanly(dag_bag, dag_file):
    assert dag_bag.import_errors.get(str(dag_file)) is None


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_dag_file_parses_fast(dag_bag, dag_file):
    stats = {Path(stat.file).name: stat.duration for stat in dag_bag.dagbag_stats}
    assert stats[dag_file.name].total_seconds() < MAX_PARSE_SECONDS


def test_parsing_queries_no_database_and_fetches_no_connection():
    """Parse the folder while recording metadata-DB statements and connection look-ups."""
    from airflow import settings
    from airflow.models import DagBag
    from sqlalchemy import event

    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(settings.engine, "before_cursor_execute", record)
    try:
        with (
            mock.patch("airflow.sdk.definitions.connection.Connection.get") as connection_get,
            mock.patch("airflow.sdk.BaseHook.get_connection") as hook_get_connection,
            mock.patch("airflow.sdk.Variable.get") as variable_get,
            mock.patch("psycopg.connect") as psycopg_connect,
        ):
            bag = DagBag(dag_folder=str(DAGS_DIR))
    finally:
        event.remove(settings.engine, "before_cursor_execute", record)
    assert not bag.import_errors
    assert statements == []
    assert not connection_get.called
    assert not hook_get_connection.called
    assert not variable_get.called
    assert not psycopg_connect.called


def _dag_ids(dag_bag):
    return sorted(dag_bag.dags)


def test_every_dag_has_policy_fields(dag_bag):
    for dag_id, dag in dag_bag.dags.items():
        assert dag.owner not in (None, "", "airflow"), f"{dag_id}: owner missing"
        assert dag.doc_md and len(dag.doc_md) > 200, f"{dag_id}: doc_md missing or too short"
        assert dag.tags, f"{dag_id}: no tags"
        assert set(dag.tags) <= ALLOWED_TAGS, f"{dag_id}: unknown tags {set(dag.tags) - ALLOWED_TAGS}"
        assert dag.max_active_runs is not None, f"{dag_id}: max_active_runs missing"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id}: no retries"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_dag_declares_schedule_and_catchup(dag_file):
    tree = ast.parse(dag_file.read_text())
    keywords = {
        keyword.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"DAG", "dag"}
        for keyword in node.keywords
    }
    assert {"schedule", "catchup", "start_date", "doc_md", "max_active_runs"} <= keywords


def test_scheduled_dags_have_nonempty_data_intervals(dag_bag):
    from airflow.serialization.encoders import coerce_to_core_timetable

    run_after = dt.datetime(2026, 3, 29, 12, tzinfo=dt.UTC)
    for dag_id, dag in dag_bag.dags.items():
        timetable = coerce_to_core_timetable(dag.timetable)
        if timetable.can_be_scheduled:
            interval = timetable.infer_manual_data_interval(run_after=run_after)
            assert interval.end > interval.start, f"{dag_id}: empty data interval {interval}"


def test_tasks_reading_the_plan_run_after_it(dag_bag):
    dag = dag_bag.dags["saas_metrics_daily"]
    readers = [
        task
        for task in dag.tasks
        if "plan_recompute" in repr([getattr(task, field, None) for field in task.template_fields])
    ]
    assert len(readers) > 10
    for task in readers:
        upstream = {relative.task_id for relative in task.get_flat_relatives(upstream=True)}
        assert "plan_recompute" in upstream, task.task_id
