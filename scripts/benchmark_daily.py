"""Benchmark the daily pipeline: does a longer history slow the daily run down?

For each history length (24 and 48 months by default), the script creates a fresh database on
the embedded PostgreSQL server and runs the daily DAG for seven days in a row. The histories take
turns, day by day, so that a slower spell of the machine does not fall on one of them. The run
for day D rebuilds everything. The run for D+1 is the first daily run after that rebuild: it still pays
one-off costs, such as setting PostgreSQL's hint bits on the rows the rebuild wrote the first time
it reads them. The runs for D+2 to D+6 are ordinary daily runs after a daily run, the case that
repeats every day, and the comparison uses the median of their times, so that one task disturbed
in one run does not decide it. For each run the script reports the time of the metric
tasks, which is every task except the demo data load, and at the end the peak memory.

The demo company grows every month, so at one scale a longer history ends with a larger company
and more rows per day. To compare at the same daily volume, the shortest history uses --scale
and each longer one gets its own scale, unless --same-scale is given. Before the benchmark, a
child process generates the demo data as of the last measured run's interval end, without a
database.
The scale of a longer history is first multiplied by the ratio of the rows extracted in the last
28 days (the shortest history's over its own), once or twice until they match within 5 %. The
script then tries that scale and scales up to 2 % above and below it, and keeps the one with the
closest measured rows (raw rows extracted in the measured runs' data intervals), stopping early
within 2 %. At small scales a few days' rows vary so much that they can still differ by tens of
percent, and the report then prints a NOTE.

After each daily run the script counts the daily rows in the warehouse and reports their mean
over the measured runs with the scale of each history.

    python scripts/benchmark_daily.py [--months 24 48] [--scale 1.0] [--date 2026-11-20] [--same-scale]

Run it on an otherwise idle machine: other load on the two cores changes the numbers.
Results go to stdout as a Markdown table for docs/benchmarks.md, and with the time of every
task to .local/benchmark/results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCHMARK_DIR = PROJECT_ROOT / ".local" / "benchmark"
RESULTS_FILE = BENCHMARK_DIR / "results.json"
DEMO_SEED = 42

# Calibration of the longer histories. Every scale draws different random numbers, so the rows
# of a single day are noisy. For the daily run of 2026-11-21 with seed 42, 48 months at scales
# 0.815, 0.82 and 0.825 gave 4,249, 4,003 and 3,780 daily rows. Six months at 0.0465 and 0.0469
# gave 184 and 123. So the company size is matched on a 28-day window, which varies less, and
# the rows of the measured days only choose among scales close to that size.
SIZE_WINDOW = dt.timedelta(days=28)
SIZE_TOLERANCE = 0.05
SIZE_STEPS = 2
SCALE_OFFSETS = (0.01, -0.01, 0.02, -0.02)
MEASURED_ROWS_TOLERANCE = 0.02
# The runs of each history, as (label, days after D). The ordinary daily runs, from D+2 on, are
# measured, and the comparison takes the median of their metric task times.
RUNS = (
    ("first run (full rebuild)", 0),
    ("first daily run", 1),
    ("daily run 1", 2),
    ("daily run 2", 3),
    ("daily run 3", 4),
    ("daily run 4", 5),
    ("daily run 5", 6),
)
FIRST_DAILY_RUN = RUNS[1][0]
MEASURED_RUNS = RUNS[2:]
SCALE_SIGNIFICANT_DIGITS = 4


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


def logical_date_of(run_day: dt.date) -> dt.datetime:
    return dt.datetime.combine(run_day, dt.time(7), tzinfo=dt.UTC)


def load_daily_dag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "saas_metrics_daily.py")).dags["saas_metrics_daily"]


def daily_interval(dag, run_day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Return the data interval that `dag.test()` gives the run for `run_day`, computed the same way."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(dag.timetable)
    interval = timetable.infer_manual_data_interval(run_after=logical_date_of(run_day))
    return as_utc(interval.start), as_utc(interval.end)


def measured_span(dag, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Return the start of the first measured run's data interval and the end of the last one's."""
    first = daily_interval(dag, day + dt.timedelta(days=MEASURED_RUNS[0][1]))
    last = daily_interval(dag, day + dt.timedelta(days=MEASURED_RUNS[-1][1]))
    return first[0], last[1]


def as_utc(moment: dt.datetime) -> dt.datetime:
    """Convert an aware datetime, such as Airflow's pendulum DateTime, to a plain UTC datetime."""
    return dt.datetime.fromtimestamp(moment.timestamp(), dt.UTC)


def round_scale(scale: float) -> float:
    return float(f"{scale:.{SCALE_SIGNIFICANT_DIGITS}g}")


def validate_scale(dag, scale: float, months: int) -> None:
    """Raise SystemExit unless the DAG's `demo_scale` parameter accepts `scale`."""
    from airflow.sdk.exceptions import ParamValidationError

    try:
        dag.params.get_param("demo_scale").resolve(scale)
    except ParamValidationError as error:
        raise SystemExit(
            f"scale {scale} for {months} months is invalid for the DAG ({error}). "
            "Choose another --scale or pass --same-scale."
        ) from error


def task_durations(dag_run) -> dict[str, float]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.start_date, TaskInstance.end_date).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        return {task: (end - start).total_seconds() for task, start, end in rows if start and end}


def measure_demo_volume(
    history_start: dt.date,
    scale: float,
    interval: tuple[dt.datetime, dt.datetime],
    size_window_start: dt.datetime,
) -> dict:
    """Generate the demo company as of the interval end and count its rows in two windows.

    `measured_rows` counts raw rows with `_airbyte_extracted_at` in [interval start, interval end),
    the rows that are new in the measured daily runs. `size_rows` counts those in [size_window_start,
    interval end). Runs in a child process, so the generated data never adds to the peak memory
    of the benchmark process.
    """
    from include.demo_data import generate

    started = time.monotonic()
    dataset = generate(seed=DEMO_SEED, scale=scale, history_start=history_start, until=interval[1])
    generate_seconds = time.monotonic() - started
    end = int(interval[1].timestamp())
    last_month = max(dataset.paying_customers_by_month)
    return {
        "scale": scale,
        "measured_rows": count_extracted_rows(dataset, int(interval[0].timestamp()), end),
        "size_rows": count_extracted_rows(dataset, int(size_window_start.timestamp()), end),
        "paying_customers_last_month": dataset.paying_customers_by_month[last_month],
        "generate_seconds": round(generate_seconds, 1),
    }


def count_extracted_rows(dataset, start: int, end: int) -> int:
    """Count the rows of every Airbyte table extracted in [start, end), in unix seconds."""
    import numpy as np

    from include.demo_data.dataset import BatchTable, EventTable

    total = 0
    for name, table in dataset.tables.items():
        if isinstance(table, EventTable):
            extracted = [table.columns["extracted"]]
        elif isinstance(table, BatchTable):
            extracted = [batch.extracted for batch in table.batches]
        elif table.spec.airbyte:
            raise TypeError(f"cannot read extraction times of {name}, a {type(table).__name__}")
        else:
            continue  # the finance tables have no _airbyte_extracted_at
        total += sum(int(np.count_nonzero((times >= start) & (times < end))) for times in extracted)
    return total


def calibrate_scales(
    months_list: list[int], scale: float, day: dt.date, dag, executor: ProcessPoolExecutor
) -> dict[int, dict]:
    """Choose a scale for every history length so that its measured rows match the shortest one's.

    Returns a calibration record per history length, with the chosen `scale` and every scale tried.
    """
    interval = measured_span(dag, day)
    shortest = months_list[0]
    shortest_start = dt.datetime.combine(month_start_before(day, shortest), dt.time(), tzinfo=dt.UTC)
    size_window_start = max(interval[1] - SIZE_WINDOW, shortest_start)

    def measure(months: int, trial_scale: float) -> dict:
        history_start = month_start_before(day, months)
        trial = executor.submit(measure_demo_volume, history_start, trial_scale, interval, size_window_start).result()
        print(json.dumps({"calibration": {"months": months, **trial}}), flush=True)
        return trial

    reference = measure(shortest, scale)
    if reference["measured_rows"] == 0 or reference["size_rows"] == 0:
        raise SystemExit(
            f"the {shortest}-month history at scale {scale} has no rows extracted from {interval[0]} "
            f"to {interval[1]}, so no scale can match it. Use a larger --scale or pass --same-scale."
        )
    calibrations = {
        shortest: {"scale": scale, "target_measured_rows": reference["measured_rows"], "trials": [reference]}
    }
    for months in months_list[1:]:
        calibrations[months] = calibrate_history(months, scale, reference, measure)
    for calibration in calibrations.values():
        calibration["data_interval"] = [interval[0].isoformat(), interval[1].isoformat()]
        calibration["size_window_start"] = size_window_start.isoformat()
    return calibrations


def calibrate_history(months: int, scale: float, reference: dict, measure) -> dict:
    """Match the size of one longer history to the reference, then pick the scale closest in measured rows."""
    trial = measure(months, scale)
    trials = [trial]
    # The rows do not grow in proportion to the scale: at 0.2, 48 months at 0.1475 had 18 % fewer
    # rows in the window than the ratio predicted. So a second step follows a miss by more than 5 %.
    for _ in range(SIZE_STEPS):
        trial = measure(months, round_scale(trial["scale"] * reference["size_rows"] / max(trial["size_rows"], 1)))
        trials.append(trial)
        if abs(trial["size_rows"] / reference["size_rows"] - 1) <= SIZE_TOLERANCE:
            break
    size_matched = trial["scale"]

    candidates = [trial]
    for offset in SCALE_OFFSETS:
        if measured_rows_difference(trial, reference) <= MEASURED_ROWS_TOLERANCE:
            break
        trial = measure(months, round_scale(size_matched * (1 + offset)))
        trials.append(trial)
        candidates.append(trial)
    best = min(candidates, key=lambda c: measured_rows_difference(c, reference))
    return {
        "scale": best["scale"],
        "size_matched_scale": size_matched,
        "target_measured_rows": reference["measured_rows"],
        "measured_rows_gap": round(best["measured_rows"] / reference["measured_rows"] - 1, 4),
        "trials": trials,
    }


def measured_rows_difference(trial: dict, reference: dict) -> float:
    """Return the absolute relative difference between the measured rows of a trial and the reference."""
    return abs(trial["measured_rows"] / reference["measured_rows"] - 1)


def count_daily_rows(server, database: str, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """Count, per raw table, the rows with `_airbyte_extracted_at` in [start, end).

    Covers every base table in a schema whose name starts with raw_ and that has the column.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(**server.conninfo(database)) as conn:
        tables = conn.execute(
            "select c.table_schema, c.table_name from information_schema.columns c "
            "join information_schema.tables t using (table_catalog, table_schema, table_name) "
            "where starts_with(c.table_schema, 'raw_') and c.column_name = '_airbyte_extracted_at' "
            "and t.table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        counts = {}
        for schema, table in tables:
            query = sql.SQL(
                "select count(*) from {} where _airbyte_extracted_at >= %s and _airbyte_extracted_at < %s"
            ).format(sql.Identifier(schema, table))
            counts[f"{schema}.{table}"] = conn.execute(query, (start, end)).fetchone()[0]
    return counts


def run_histories(scales: dict[int, float], day: dt.date, server) -> list[dict]:
    """Run the daily DAG on a fresh database per history length, for every day of RUNS.

    The histories take turns day by day, so that a change in the machine's speed during the
    benchmark slows them alike instead of only the ones that run last.
    """
    import psycopg

    dag = load_daily_dag()
    histories = []
    for months, scale in scales.items():
        database = f"bench_{months}m"
        with psycopg.connect(**server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{database}" with (force)')
            conn.execute(f'create database "{database}"')
        history_start = month_start_before(day, months)
        conf = {"demo_seed": DEMO_SEED, "demo_scale": scale, "demo_history_start": history_start.isoformat()}
        results = {"months": months, "history_start": history_start.isoformat(), "scale": scale}
        histories.append((database, conf, results))
    for label, offset in RUNS:
        for database, conf, results in histories:
            os.environ["AIRFLOW_CONN_WAREHOUSE"] = server.airflow_uri(database)
            results[label] = run_day(dag, server, database, conf, day + dt.timedelta(days=offset), label, offset)
    return [results for _, _, results in histories]


def run_day(dag, server, database: str, conf: dict, day: dt.date, label: str, offset: int) -> dict:
    """Run the daily DAG for `day` on `database` and return its times and, after D, its daily rows."""
    started = time.monotonic()
    dag_run = dag.test(logical_date=logical_date_of(day), run_conf=conf)
    wall = time.monotonic() - started
    if dag_run.state != "success":
        raise SystemExit(f"{label} on {database} failed (state {dag_run.state}). Its task logs are above.")
    durations = task_durations(dag_run)
    metrics = sum(seconds for task, seconds in durations.items() if task != "load_demo_data")
    run = {
        "wall_seconds": round(wall, 1),
        "load_seconds": round(durations.get("load_demo_data", 0.0), 1),
        "metric_tasks_seconds": round(metrics, 2),
        "slowest_tasks": sorted(durations.items(), key=lambda item: -item[1])[:5],
    }
    if offset > 0:
        start, end = as_utc(dag_run.data_interval_start), as_utc(dag_run.data_interval_end)
        rows_by_table = count_daily_rows(server, database, start, end)
        run["data_interval"] = [start.isoformat(), end.isoformat()]
        run["daily_rows"] = sum(rows_by_table.values())
        run["daily_rows_by_table"] = rows_by_table
    print(json.dumps({"database": database, label: run}, default=str), flush=True)
    run["task_seconds"] = dict(sorted(durations.items()))
    return run


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--months", type=int, nargs="+", default=[24, 48], help="history lengths to compare, in months (at least 1)"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="demo company size of the shortest history (1.0: ~4,200 customers)"
    )
    parser.add_argument("--date", default="2026-11-20", help="day D of the first run (YYYY-MM-DD)")
    parser.add_argument(
        "--same-scale",
        action="store_true",
        help="use --scale for every history instead of calibrating longer ones to the same daily rows",
    )
    args = parser.parse_args()
    if min(args.months) < 1:
        parser.error(f"--months must be at least 1, got {min(args.months)}")
    args.months = sorted(set(args.months))
    return args


def median_metric_seconds(result: dict, labels: list[str]) -> float:
    """Return the median metric task time of the runs `labels` of one history."""
    return statistics.median(result[label]["metric_tasks_seconds"] for label in labels)


def daily_ratio(results: list[dict], labels: list[str] | None = None) -> float | None:
    """Divide the longest history's median metric task time by the shortest one's.

    The median is over the runs `labels`, by default the measured daily runs.
    """
    if len(results) < 2:
        return None
    labels = labels or [label for label, _ in MEASURED_RUNS]
    return median_metric_seconds(results[-1], labels) / median_metric_seconds(results[0], labels)


def mean_daily_rows(result: dict) -> float:
    return statistics.mean(result[label]["daily_rows"] for label, _ in MEASURED_RUNS)


def print_report(results: list[dict], args: argparse.Namespace, day: dt.date, peak_mib: float) -> None:
    if args.same_scale:
        scales = f"scale {args.scale} for every history"
    else:
        scales = f"scale {args.scale} for {args.months[0]} months and calibrated to its daily rows for the others"
    print()
    days = ", ".join(f"{label} for {day + dt.timedelta(days=offset)}" for label, offset in RUNS)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{scales}; {days}")
    print()
    measured = [label for label, _ in MEASURED_RUNS]
    print("| history | scale | daily rows (mean) | first run: load / metric tasks | first daily run: metric tasks "
          "| daily runs: metric tasks | median | daily run load (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        first, settling = result[RUNS[0][0]], result[FIRST_DAILY_RUN]
        daily = [result[label] for label in measured]
        print(f"| {result['months']} months | {result['scale']} | {mean_daily_rows(result):,.0f} "
              f"| {first['load_seconds']} s / {first['metric_tasks_seconds']:.1f} s "
              f"| {settling['metric_tasks_seconds']:.1f} s "
              f"| {' / '.join(format(run['metric_tasks_seconds'], '.1f') for run in daily)} s "
              f"| {median_metric_seconds(result, measured):.1f} s "
              f"| {statistics.median(run['load_seconds'] for run in daily)} s |")
    if len(results) >= 2:
        print(f"\nDaily metric tasks, median of {len(measured)} daily runs, {results[-1]['months']} vs "
              f"{results[0]['months']} months: {daily_ratio(results):.2f}x (single runs, in order: "
              f"{', '.join(f'{daily_ratio(results, [label]):.2f}x' for label in measured)}; first daily run "
              f"after the rebuild: {daily_ratio(results, [FIRST_DAILY_RUN]):.2f}x)")
    target = mean_daily_rows(results[0])
    for result in results[1:]:
        gap = mean_daily_rows(result) / target - 1 if target else float("inf")
        if not args.same_scale and abs(gap) > MEASURED_ROWS_TOLERANCE:
            print(f"NOTE: the daily rows of {result['months']} months differ by {gap:+.0%} from those of "
                  f"{results[0]['months']} months, although the closest of the scales tried was used. "
                  "A single day's rows vary less at a larger --scale.")
    print(f"Peak resident memory of the benchmark process (Airflow and all tasks in-process, "
          f"calibration not included): {peak_mib:.0f} MiB")
    print(f"Every task's time: {RESULTS_FILE}")


def main() -> int:
    args = parse_arguments()
    day = dt.date.fromisoformat(args.date)
    configure_environment()
    BENCHMARK_DIR.mkdir(parents=True, exist_ok=True)
    from airflow.utils import db

    from saas_metrics.warehouse import start_embedded, stop_embedded

    db.initdb()
    dag = load_daily_dag()
    validate_scale(dag, args.scale, args.months[0])
    calibrations = {}
    if not args.same_scale and len(args.months) > 1:
        # A spawned child starts without the Airflow state of this process and keeps the
        # generated data out of this process's peak memory.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as executor:
            calibrations = calibrate_scales(args.months, args.scale, day, dag, executor)
    scales = {months: calibrations.get(months, {}).get("scale", args.scale) for months in args.months}
    for months, scale in scales.items():
        validate_scale(dag, scale, months)

    server = start_embedded(BENCHMARK_DIR / "pgdata")
    try:
        results = run_histories(scales, day, server)
    finally:
        stop_embedded(BENCHMARK_DIR / "pgdata")
    for result in results:
        result["calibration"] = calibrations.get(result["months"])

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "machine": platform.machine(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "first_run_day": day.isoformat(),
                "scale": args.scale,
                "same_scale": args.same_scale,
                "daily_metric_tasks_ratio": daily_ratio(results),
                "first_daily_run_ratio": daily_ratio(results, [FIRST_DAILY_RUN]),
                "peak_resident_mib": round(peak_mib),
                "histories": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print_report(results, args, day, peak_mib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
