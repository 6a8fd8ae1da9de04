"""Benchmark the daily pipeline: does a longer history slow the daily run down?

For each history length (24 and 48 months by default, the same company size and daily volume),
the script creates a fresh database on the embedded PostgreSQL server, runs the daily DAG once
for day D (the first run rebuilds everything), then runs it for day D+1 (an ordinary daily
run, recomputing only the open month) and reports the time of the metric tasks, which is every
task except the demo data load, and the peak memory.

    python scripts/benchmark_daily.py [--months 24 48] [--scale 1.0] [--date 2026-11-20]

Run it on an otherwise idle machine: other load on the two cores changes the numbers.
Results go to stdout as a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCHMARK_DIR = PROJECT_ROOT / ".local" / "benchmark"


def configure_environment() -> None:
    os.environ["AIRFLOW_HOME"] = str(BENCHMARK_DIR / "airflow")
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT_ROOT / "plugins")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["SAAS_METRICS_TASK_RETRIES"] = "0"
    os.environ["SAAS_METRICS_NOTIFICATIONS"] = "outbox"
    os.environ["SAAS_METRICS_OUTPUT_DIR"] = str(BENCHMARK_DIR / "output")
    os.environ["SODA_TELEMETRY_DISABLED"] = "true"
    sys.path[:0] = [str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")]


def month_start_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - (months - 1)
    return dt.date(index // 12, index % 12 + 1, 1)


def task_durations(dag_run) -> dict[str, float]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.start_date, TaskInstance.end_date).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        return {task: (end - start).total_seconds() for task, start, end in rows if start and end}


def run_history(months: int, scale: float, day: dt.date, server) -> dict:
    import psycopg
    from airflow.models import DagBag

    database = f"bench_{months}m"
    with psycopg.connect(**server.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{database}" with (force)')
        conn.execute(f'create database "{database}"')
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = server.airflow_uri(database)
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "saas_metrics_daily.py")).dags["saas_metrics_daily"]
    conf = {"demo_seed": 42, "demo_scale": scale, "demo_history_start": month_start_before(day, months).isoformat()}

    results = {"months": months}
    for label, run_day in (("first run (full rebuild)", day), ("daily run", day + dt.timedelta(days=1))):
        logical_date = dt.datetime.combine(run_day, dt.time(7), tzinfo=dt.UTC)
        started = time.monotonic()
        dag_run = dag.test(logical_date=logical_date, run_conf=conf)
        wall = time.monotonic() - started
        if dag_run.state != "success":
            raise SystemExit(f"{label} for {months} months ended {dag_run.state}; see the log above")
        durations = task_durations(dag_run)
        metrics = sum(seconds for task, seconds in durations.items() if task != "load_demo_data")
        results[label] = {
            "wall_seconds": round(wall, 1),
            "load_seconds": round(durations.get("load_demo_data", 0.0), 1),
            "metric_tasks_seconds": round(metrics, 1),
            "slowest_tasks": sorted(durations.items(), key=lambda item: -item[1])[:5],
        }
        print(json.dumps({label: results[label]}, default=str), flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, nargs="+", default=[24, 48], help="history lengths to compare")
    parser.add_argument("--scale", type=float, default=1.0, help="demo company size (1.0: ~4,200 customers)")
    parser.add_argument("--date", default="2026-11-20", help="day D of the first run (YYYY-MM-DD)")
    args = parser.parse_args()

    configure_environment()
    BENCHMARK_DIR.mkdir(parents=True, exist_ok=True)
    from airflow.utils import db

    from saas_metrics.warehouse import start_embedded, stop_embedded

    db.initdb()
    server = start_embedded(BENCHMARK_DIR / "pgdata")
    day = dt.date.fromisoformat(args.date)
    try:
        results = [run_history(months, args.scale, day, server) for months in args.months]
    finally:
        stop_embedded(BENCHMARK_DIR / "pgdata")

    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"scale {args.scale}, first run for {day}, daily run for {day + dt.timedelta(days=1)}")
    print()
    print("| history | first run: load / metric tasks | daily run: load / metric tasks | daily run wall |")
    print("|---|---|---|---|")
    for result in results:
        first, daily = result["first run (full rebuild)"], result["daily run"]
        print(f"| {result['months']} months | {first['load_seconds']} s / {first['metric_tasks_seconds']} s "
              f"| {daily['load_seconds']} s / {daily['metric_tasks_seconds']} s | {daily['wall_seconds']} s |")
    if len(results) >= 2:
        base = results[0]["daily run"]["metric_tasks_seconds"]
        longest = results[-1]["daily run"]["metric_tasks_seconds"]
        print(f"\nDaily metric tasks, {results[-1]['months']} vs {results[0]['months']} months: "
              f"{longest / base:.2f}x")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Peak resident memory of the benchmark process (Airflow and all tasks in-process): {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
