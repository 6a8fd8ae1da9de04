"""A real `airflow backfill create` against a running scheduler and API server.

Three daily intervals that cross a month boundary are backfilled into one database and run one
by one with `dag.test()` into another; the tables must be equal, and a second backfill of the
same range must change nothing. The scheduler, DAG processor and API server run as
subprocesses with an Airflow home of their own, on a port of 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Enough history and customers for the quality gate (cohort completeness, month-over-month MRR).
RUN_CONF = {"demo_seed": 7, "demo_scale": 0.05, "demo_history_start": "2025-01-01"}
# Intervals ending 2026-03-30, 03-31 and 04-01 at 07:00 UTC; a backfill selects runs by the
# start of their data interval.
INTERVAL_ENDS = [dt.datetime(2026, 3, 30, 7, tzinfo=dt.UTC) + dt.timedelta(days=day) for day in range(3)]
BACKFILL_FROM = "2026-03-29T07:00:00+00:00"
BACKFILL_TO = "2026-03-31T07:00:00+00:00"
COMPARED_SCHEMAS = ("staging", "core", "analytics")
# Operational logs record run ids and clock times, so they differ between any two executions.
EXCLUDED_TABLES = {
    "analytics.pipeline_state",
    "analytics.notification_log",
    "analytics.alert_history",
    "analytics.alert_deliveries",
    "analytics.data_quality_results",
    "analytics.ingestion_health",
}
# Columns that record the clock time of a run: the plan's extracted_until.
EXCLUDED_COLUMNS = {"analytics.row_accounting": {"extracted_until"}}
RUN_TIMEOUT_SECONDS = 1200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _create_database(server, name: str) -> str:
    import psycopg

    with psycopg.connect(**server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return server.airflow_uri(name)


def _table_contents(server, database: str) -> dict[str, list]:
    import psycopg

    contents = {}
    with psycopg.connect(**server.conninfo(database)) as conn:
        tables = conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema = any(%s) and table_type = 'BASE TABLE' order by 1",
            (list(COMPARED_SCHEMAS),),
        ).fetchall()
        for (table,) in tables:
            if table in EXCLUDED_TABLES:
                continue
            schema, name = table.split(".")
            columns = [
                column
                for (column,) in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s "
                    "and table_name = %s order by ordinal_position",
                    (schema, name),
                ).fetchall()
                if column not in EXCLUDED_COLUMNS.get(table, set())
            ]
            selected = ", ".join(f'"{column}"' for column in columns)
            contents[table] = sorted(conn.execute(f"select {selected} from {table}").fetchall(), key=repr)
    return contents


class AirflowServices:
    """Scheduler, DAG processor and API server for one Airflow home, stopped on exit."""

    def __init__(self, home: Path, warehouse_uri: str):
        self.port = _free_port()
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            # Only the backfill may create runs: no scheduled run of "today" may touch the warehouse.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW_CONN_WAREHOUSE": warehouse_uri,
            "SAAS_METRICS_TASK_RETRIES": "0",
            "SAAS_METRICS_NOTIFICATIONS": "outbox",
            "PYTHONPATH": os.pathsep.join(str(PROJECT_ROOT / folder) for folder in (".", "plugins", "tests")),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "helpers.sqlite_settings.CONNECT_ARGS",
        }
        self.home = home
        self.processes: list[subprocess.Popen] = []

    def airflow(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        command = [str(Path(sys.executable).with_name("airflow")), *args]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def _start_component(self, *component: str) -> subprocess.Popen:
        log = (self.home / f"{component[0]}.log").open("a")
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("airflow")), *component],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        self.airflow("dags", "reserialize")
        self.scheduler = self._start_component("scheduler")
        self._start_component("dag-processor")
        self._start_component("api-server", "--port", str(self.port))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(1)
        raise AssertionError(f"the API server did not listen on port {self.port}; see {self.home}/api-server.log")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def backfill(self, *extra: str) -> None:
        """Create a backfill while the scheduler is stopped, then start the scheduler again.

        SQLite lets one process write at a time. A scheduler writing while `backfill create`
        reads and then writes in one transaction can fail that transaction at once with
        "database is locked", whatever the busy timeout, after part of the backfill was written.
        """
        self.scheduler.terminate()
        self.scheduler.wait(timeout=60)
        self.processes.remove(self.scheduler)
        try:
            self._create_backfill(*extra)
        finally:
            # The stopped scheduler's log server can outlive it for a while: use another port.
            self.env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(_free_port())
            self.scheduler = self._start_component("scheduler")

    def _create_backfill(self, *extra: str) -> None:
        arguments = [
            "backfill", "create", "--dag-id", "saas_metrics_daily",
            "--from-date", BACKFILL_FROM, "--to-date", BACKFILL_TO,
            "--max-active-runs", "1", "--dag-run-conf", json.dumps(RUN_CONF), *extra,
        ]
        # The scheduler writes to the same SQLite file; a write can still meet "database is
        # locked" after the 60 s the connection waits (see helpers.sqlite_settings).
        for attempt in range(3):
            open_before = self._open_backfills()
            try:
                self.airflow(*arguments)
                return
            except AssertionError as error:
                if "database is locked" not in str(error) or attempt == 2:
                    raise
                # A failed create can leave a backfill with only some of its runs, which a second
                # create cannot replace ("Another backfill is running"): stop here instead.
                if self._open_backfills() > open_before:
                    raise AssertionError(f"backfill create failed after writing part of it:\n{error}") from error
                time.sleep(5)

    def _open_backfills(self) -> int:
        return self._metadata_query("select count(*) from backfill where completed_at is null")[0][0]

    def _metadata_query(self, sql: str, parameters=()) -> list[tuple]:
        import sqlite3

        metadata = sqlite3.connect(self.home / "airflow.db", timeout=30)
        try:
            return metadata.execute(sql, parameters).fetchall()
        finally:
            metadata.close()

    def wait_for_backfill_runs(self, expected: int, started_after: float) -> list[dict]:
        """Wait until the open backfill is completed; return its runs that ended after `started_after`."""
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            open_backfills = self._open_backfills()
            rows = self._metadata_query(
                "select run_id, state, data_interval_end, end_date from dag_run "
                "where dag_id = 'saas_metrics_daily' and run_type = 'backfill' and end_date is not null"
            )
            runs = [
                {"run_id": run_id, "state": state, "data_interval_end": interval_end, "end_date": end_date}
                for run_id, state, interval_end, end_date in rows
                if _timestamp(end_date) > started_after
            ]
            if not open_backfills and len(runs) >= expected:
                for run in runs:
                    run["failed_tasks"] = self.failed_tasks(run["run_id"]) if run["state"] != "success" else []
                return runs
            time.sleep(5)
        raise AssertionError(f"backfill runs did not finish in {RUN_TIMEOUT_SECONDS} s; see {self.home}")


    def failed_tasks(self, run_id: str) -> list[str]:
        """Name each failed task of a run with the last error line of its log, so a failure explains itself."""
        rows = self._metadata_query(
            "select task_id, try_number from task_instance where run_id = ? and state = 'failed'", (run_id,)
        )
        described = []
        for task_id, attempt in rows:
            log = self.home / "logs" / "dag_id=saas_metrics_daily" / f"run_id={run_id}" / f"task_id={task_id}"
            log = log / f"attempt={attempt}.log"
            lines = log.read_text().splitlines() if log.exists() else []
            errors = [line for line in lines if '"level":"error"' in line]
            described.append(f"{task_id}: {errors[-1][:1000] if errors else f'no error line in {log}'}")
        return described


def _timestamp(value: str) -> float:
    """Seconds since the epoch of a metadata-database time stamp, which is stored in UTC."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


@pytest.fixture(scope="module")
def backfill_results(pg_server, airflow_db, tmp_path_factory):
    from airflow.models import DagBag

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("SAAS_METRICS_TASK_RETRIES", "0")
    monkeypatch.setenv("SAAS_METRICS_NOTIFICATIONS", "outbox")
    monkeypatch.setenv("SAAS_METRICS_OUTPUT_DIR", str(tmp_path_factory.mktemp("output")))

    # One by one, in this process, with dag.test().
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", _create_database(pg_server, "bf_one_by_one"))
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "saas_metrics_daily.py")).dags["saas_metrics_daily"]
    states = [dag.test(logical_date=end, run_conf=RUN_CONF).state for end in INTERVAL_ENDS]
    one_by_one = _table_contents(pg_server, "bf_one_by_one")

    services = AirflowServices(tmp_path_factory.mktemp("airflow_services"), _create_database(pg_server, "bf_backfill"))
    try:
        services.start()
        services.airflow("dags", "unpause", "saas_metrics_daily")
        started = time.time()
        services.backfill()
        first_runs = services.wait_for_backfill_runs(len(INTERVAL_ENDS), started)
        first_backfill = _table_contents(pg_server, "bf_backfill")
        started = time.time()
        services.backfill("--reprocess-behavior", "completed")
        second_runs = services.wait_for_backfill_runs(len(INTERVAL_ENDS), started)
        second_backfill = _table_contents(pg_server, "bf_backfill")
    finally:
        services.stop()
        monkeypatch.undo()
    return {
        "one_by_one_states": states,
        "one_by_one": one_by_one,
        "first_runs": first_runs,
        "first_backfill": first_backfill,
        "second_runs": second_runs,
        "second_backfill": second_backfill,
    }


def test_one_by_one_runs_succeed(backfill_results):
    assert backfill_results["one_by_one_states"] == ["success"] * len(INTERVAL_ENDS)


def test_backfill_runs_succeed(backfill_results):
    runs = backfill_results["first_runs"]
    assert [run["state"] for run in runs] == ["success"] * len(INTERVAL_ENDS), [run["failed_tasks"] for run in runs]


def test_backfill_covers_the_same_intervals(backfill_results):
    ends = sorted(_timestamp(run["data_interval_end"]) for run in backfill_results["first_runs"])
    assert ends == [end.timestamp() for end in INTERVAL_ENDS]


def test_backfill_equals_one_by_one(backfill_results):
    assert backfill_results["first_backfill"].keys() == backfill_results["one_by_one"].keys()
    differing = [
        table
        for table, rows in backfill_results["one_by_one"].items()
        if backfill_results["first_backfill"][table] != rows
    ]
    assert differing == []


def test_second_backfill_changes_nothing(backfill_results):
    runs = backfill_results["second_runs"]
    assert [run["state"] for run in runs] == ["success"] * len(INTERVAL_ENDS), [run["failed_tasks"] for run in runs]
    assert backfill_results["second_backfill"] == backfill_results["first_backfill"]
