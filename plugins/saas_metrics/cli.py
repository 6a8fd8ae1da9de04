"""Command-line entry points behind the Makefile: the demo run, the local Airflow UI, the warehouse.

    python -m saas_metrics.cli demo [--scale 1.0] [--seed 42] [--date YYYY-MM-DD]
    python -m saas_metrics.cli ui
    python -m saas_metrics.cli warehouse start|stop|uri
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from saas_metrics.paths import DAGS_DIR, LOCAL_DIR, OUTPUT_DIR, PLUGINS_DIR, PROJECT_ROOT

DAILY_DAG_ID = "saas_metrics_daily"
DAILY_RUN_HOUR_UTC = 7
DEMO_LOAD_TASK_ID = "load_demo_data"
# `airflow dags test` logs "running task <TaskInstance: dag.task run ...> ti_id=..." when a task
# starts and "Task instance state updated ... new_state=... ti_id=..." when it ends.
TASK_START_LINE = re.compile(r"running task <TaskInstance: [\w-]+\.(?P<task>[\w.]+) .*?ti_id=(?P<ti_id>[\w-]+)")
TASK_STATE_LINE = re.compile(r"Task instance state updated .*new_state=(?P<state>\w+).*ti_id=(?P<ti_id>[\w-]+)")


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def airflow_environment() -> dict[str, str]:
    """Environment for Airflow commands run against this project folder, with a local home."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(LOCAL_DIR / "airflow"))
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_DIR)
    env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PLUGINS_DIR)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("SODA_TELEMETRY_DISABLED", "true")
    env.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")
    # A local run should stop at the first error instead of waiting minutes between retries.
    env.setdefault("SAAS_METRICS_TASK_RETRIES", "0")
    # Alerts and failure messages go to output/notifications/outbox.jsonl unless real
    # channels are configured (set SAAS_METRICS_NOTIFICATIONS=channels to use them).
    env.setdefault("SAAS_METRICS_NOTIFICATIONS", "outbox")
    # `airflow standalone` starts its components as `airflow ...` subprocesses found on PATH,
    # so the virtual environment's bin folder must be on it even when the venv is not activated.
    env["PATH"] = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH")]))
    python_path = [str(PROJECT_ROOT), str(PLUGINS_DIR)]
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    return env


def airflow_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("airflow")), *args]


def latest_complete_run(now: datetime) -> datetime:
    """Return the logical date of the latest daily run whose interval has ended at `now`.

    The daily timetable's runs cover [D-1 07:00, D 07:00) UTC; `airflow dags test` with
    logical date D 07:00 runs that interval.
    """
    today_run = now.replace(hour=DAILY_RUN_HOUR_UTC, minute=0, second=0, microsecond=0)
    return today_run if now >= today_run else today_run - timedelta(days=1)


def migrate_airflow_db(env: dict[str, str]) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    result = subprocess.run(airflow_command("db", "migrate"), env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"airflow db migrate failed with exit code {result.returncode}")


def run_daily_dag(
    env: dict[str, str], logical_date: datetime, conf: dict, log_path: Path, keep_raw_data: bool = False
) -> int:
    """Run the daily DAG with `airflow dags test`, print one line per finished task, log the rest.

    With `keep_raw_data`, the demo data load is marked successful without running, so the run
    processes the raw tables as they are.
    """
    skip_load = ("--mark-success-pattern", f"^{DEMO_LOAD_TASK_ID}$") if keep_raw_data else ()
    command = airflow_command(
        "dags", "test", DAILY_DAG_ID, logical_date.isoformat(), "--conf", json.dumps(conf), *skip_load
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    task_ids: dict[str, str] = {}
    echoing_error = False
    with log_path.open("w") as log_file, subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout:
            log_file.write(line)
            started_task = TASK_START_LINE.search(line)
            finished_task = TASK_STATE_LINE.search(line)
            if started_task:
                task_ids[started_task["ti_id"]] = started_task["task"]
            elif finished_task and finished_task["ti_id"] in task_ids:
                elapsed = time.monotonic() - started
                task = task_ids[finished_task["ti_id"]]
                print(f"    [{elapsed:6.1f} s] {task:<55} {finished_task['state']}", flush=True)
            elif (
                line.startswith(("saas_metrics.", "psycopg.", "airflow.exceptions.", "airflow.sdk.exceptions."))
                or "Error:" in line[:80]
                # The lines of a multi-line error message, such as the quality gate's list of checks.
                or (echoing_error and line.startswith("- "))
            ):
                echoing_error = True
                print(f"    {line.rstrip()}", flush=True)
                continue
            echoing_error = False
    return process.returncode


def format_money(value) -> str:
    return f"{float(value):>14,.0f}"


def print_mrr_table(rows: list[tuple]) -> None:
    header = (
        f"{'month':<8} {'MRR':>14} {'ARR':>14} {'paying':>7} {'new':>12} {'expansion':>12} "
        f"{'contraction':>12} {'churn':>12} {'reactivation':>12} {'net new':>12}"
    )
    print(header)
    print("-" * len(header))
    for month, provisional, mrr, arr, paying, new, expansion, contraction, churn, reactivation, net in rows:
        label = month.strftime("%Y-%m") + ("*" if provisional else "")
        print(
            f"{label:<8} {format_money(mrr)} {format_money(arr)} {paying:>7} {float(new):>12,.0f} "
            f"{float(expansion):>12,.0f} {float(contraction):>12,.0f} {float(churn):>12,.0f} "
            f"{float(reactivation):>12,.0f} {float(net):>12,.0f}"
        )
    print("* provisional: the month is still open; its snapshot is the end of the run's data interval")


def fetch_mrr_rows(currency: str) -> list[tuple]:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    with PostgresHook(postgres_conn_id="warehouse").get_conn() as conn:
        return conn.execute(
            """
            select month_start, is_provisional, mrr, arr, paying_customers, new_mrr, expansion_mrr,
                contraction_mrr, churned_mrr, reactivation_mrr, net_new_mrr
            from analytics.mrr_monthly
            where currency_basis = 'reporting' and currency = lower(%s)
            order by month_start
            """,
            (currency,),
        ).fetchall()


def write_mrr_csv(rows: list[tuple], path: Path) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["month", "is_provisional", "mrr", "arr", "paying_customers", "new_mrr", "expansion_mrr",
             "contraction_mrr", "churned_mrr", "reactivation_mrr", "net_new_mrr"]
        )
        for row in rows:
            writer.writerow([row[0].isoformat(), *row[1:]])


def build_latest_board_report():
    """Build the board report of the latest closed month into OUTPUT_DIR/board_reports.

    The validation stamp is read from analytics.arr_reconciliation, and the report is "not
    validated" when that table is missing. Returns None when no month is closed yet.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from saas_metrics.reports import build_board_report, latest_closed_month
    from saas_metrics.reports.validation import read_reconciliation_validation

    with PostgresHook(postgres_conn_id="warehouse").get_conn() as conn:
        month = latest_closed_month(conn)
        if month is None:
            return None
        validation = read_reconciliation_validation(conn, month)
        return build_board_report(conn, month, None, validation)


def board_report_step() -> int:
    """Run the demo's board report step and print where the report is; return an exit code."""
    import logging

    from saas_metrics.reports import BoardReportError

    # The lines printed below repeat the builder's info log, so only its warnings are shown.
    logging.getLogger("saas_metrics.reports").setLevel(logging.WARNING)
    step("Building the board report for the latest closed month")
    try:
        result = build_latest_board_report()
    except BoardReportError as error:
        print(f"The board report could not be built: {error}", file=sys.stderr)
        return 1
    if result is None:
        print("No closed month in analytics.mrr_monthly yet: the board report needs one.", file=sys.stderr)
        return 0
    if result.is_written:
        print(f"    Board report {result.month:%Y-%m}, {result.pages} PDF pages: {result.validation.stamp}")
    else:
        print(f"    Board report {result.month:%Y-%m} not rebuilt: {result.kept_reason}")
    print(f"    PDF:  {result.pdf_path}")
    print(f"    HTML: {result.html_path}")
    print("    In the Airflow UI: run make ui, then Browse > SaaS metrics.")
    return 0


def demo_scale(value: str) -> float:
    """argparse type of --scale: a number from 0.01 to 20, as the DAG's Param allows."""
    try:
        scale = float(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid scale {value!r}: expected a number such as 0.2") from error
    if not 0.01 <= scale <= 20:
        raise argparse.ArgumentTypeError(f"invalid scale {value}: it must be between 0.01 and 20")
    return scale


def demo_seed(value: str) -> int:
    """argparse type of --seed: a non-negative integer."""
    try:
        seed = int(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid seed {value!r}: expected a whole number such as 42") from error
    if seed < 0:
        raise argparse.ArgumentTypeError(f"invalid seed {value}: it must not be negative")
    return seed


def check_demo_dates(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject a --date before the daily DAG's first interval, or not after --history-start."""
    from saas_metrics.dag_defaults import DAILY_START_DATE

    if args.date is None:
        return
    first_day = DAILY_START_DATE.date() + timedelta(days=1)
    if args.date < first_day.isoformat():
        parser.error(f"invalid date {args.date}: the daily DAG's first interval ends on {first_day}")
    latest = latest_complete_run(datetime.now(UTC)).date()
    if args.date > latest.isoformat():
        parser.error(
            f"invalid date {args.date}: its interval has not ended yet; the latest day with a complete "
            f"interval is {latest} (the daily run's interval ends at {DAILY_RUN_HOUR_UTC:02d}:00 UTC)"
        )
    if args.history_start != "auto" and args.history_start >= args.date:
        parser.error(f"invalid history start {args.history_start}: it must be before --date {args.date}")


def demo_date(value: str) -> str:
    """argparse type of --date: a calendar date written YYYY-MM-DD."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid date {value!r}: expected YYYY-MM-DD, e.g. 2026-11-30") from error


def demo_history_start(value: str) -> str:
    """argparse type of --history-start: auto, or the first day of a month written YYYY-MM-01."""
    if value == "auto":
        return value
    try:
        start = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid history start {value!r}: expected YYYY-MM-01 or auto") from error
    if start.day != 1:
        raise argparse.ArgumentTypeError(f"invalid history start {value}: it must be the first day of a month")
    return value


# The demo options that make another company: a change of any empties the embedded warehouse.
COMPANY_OPTIONS = ("seed", "scale", "history_start")


def _describe(settings) -> str:
    """Demo settings as `seed 42, scale 0.2, ...` for messages."""
    if not isinstance(settings, dict):
        return str(settings)
    return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in settings.items())


def reset_demo_warehouse_if_options_changed(settings: dict, *, user_warehouse: bool) -> None:
    """Start from an empty embedded warehouse unless this run continues the last one's company.

    `settings` has the seed, scale, resolved history start and the date of the run. The daily
    run recomputes only the months its data can change, so demo data generated for another
    company, or as of an earlier date, would mix with the months left by the previous run. The
    same company on the same or a later date is the next day of the same history: the
    warehouse is kept and the run is incremental. A warehouse set through AIRFLOW_CONN_WAREHOUSE
    is never dropped: the user is warned instead.
    """
    from saas_metrics.warehouse import WAREHOUSE_CONN_ENV, recreate_embedded_database

    settings_file = LOCAL_DIR / "demo-settings.json"
    # Without a settings file the options of whatever is in the warehouse are unknown.
    previous = json.loads(settings_file.read_text()) if settings_file.exists() else "unknown"
    continues = (
        isinstance(previous, dict)
        and all(previous.get(option) == settings.get(option) for option in COMPANY_OPTIONS)
        and str(settings.get("date")) >= str(previous.get("date"))
    )
    if not continues:
        if user_warehouse:
            print(
                f"Warning: the demo options changed since the last run ({_describe(previous)} -> "
                f"{_describe(settings)}), and the "
                f"warehouse comes from {WAREHOUSE_CONN_ENV}, so it is not emptied. Months written by the "
                "previous run remain next to the new ones.",
                file=sys.stderr,
            )
        else:
            step(
                "No record of the demo options the warehouse holds: starting from an empty warehouse"
                if previous == "unknown"
                else f"Demo options changed (last run: {_describe(previous)}; this run: {_describe(settings)}): "
                "starting from an empty warehouse"
            )
            recreate_embedded_database()
    elif previous != settings:
        step(f"Same demo company as the last run, {previous['date']}; this run continues it on {settings['date']}")
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps(settings))


def command_demo(args: argparse.Namespace) -> int:
    from saas_metrics.config import load_metrics_config
    from saas_metrics.demo import resolve_history_start
    from saas_metrics.warehouse import WAREHOUSE_CONN_ENV, ensure_warehouse_connection

    began = time.monotonic()
    user_warehouse = bool(os.environ.get(WAREHOUSE_CONN_ENV))
    step(
        f"Using the warehouse from {WAREHOUSE_CONN_ENV}"
        if user_warehouse
        else "Starting the embedded PostgreSQL warehouse (set AIRFLOW_CONN_WAREHOUSE to use another server)"
    )
    ensure_warehouse_connection()
    now = datetime.now(UTC)
    logical_date = (
        datetime.fromisoformat(args.date).replace(hour=DAILY_RUN_HOUR_UTC, tzinfo=UTC)
        if args.date
        else latest_complete_run(now)
    )
    history_start = resolve_history_start(args.history_start, until=logical_date)
    if args.keep_raw_data:
        step(f"Keeping the raw tables as they are: {DEMO_LOAD_TASK_ID} is marked successful without running")
    else:
        reset_demo_warehouse_if_options_changed(
            {
                "seed": args.seed,
                "scale": args.scale,
                "history_start": history_start.isoformat(),
                "date": logical_date.date().isoformat(),
            },
            user_warehouse=user_warehouse,
        )

    env = airflow_environment()
    step(f"Preparing the Airflow metadata database in {env['AIRFLOW_HOME']}")
    migrate_airflow_db(env)

    conf = {"demo_seed": args.seed, "demo_scale": args.scale, "demo_history_start": history_start.isoformat()}
    log_path = LOCAL_DIR / "logs" / f"demo-{now:%Y%m%dT%H%M%S}.log"
    step(
        f"Running {DAILY_DAG_ID} for the interval ending {logical_date:%Y-%m-%d %H:%M} UTC "
        f"(scale {args.scale}, seed {args.seed}); full log: {log_path}"
    )
    exit_code = run_daily_dag(env, logical_date, conf, log_path, keep_raw_data=args.keep_raw_data)
    if exit_code != 0:
        print(f"The daily DAG failed (exit code {exit_code}). Read {log_path} for the failing task.", file=sys.stderr)
        return exit_code

    currency = load_metrics_config().reporting_currency
    rows = fetch_mrr_rows(currency)
    if not rows:
        print("analytics.mrr_monthly is empty: the run wrote no months.", file=sys.stderr)
        return 1
    step(f"Monthly MRR in {currency} (analytics.mrr_monthly, reporting currency basis)")
    print_mrr_table(rows)
    csv_path = OUTPUT_DIR / "mrr_monthly.csv"
    write_mrr_csv(rows, csv_path)
    step(f"Wrote {csv_path}")
    exit_code = board_report_step()
    step(f"Done in {time.monotonic() - began:.0f} s")
    return exit_code


def command_ui(args: argparse.Namespace) -> int:
    from saas_metrics.warehouse import ensure_warehouse_connection

    ensure_warehouse_connection()
    env = airflow_environment()
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("AIRFLOW__API__PORT", str(args.port))
    password_file = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    step(f"Starting airflow standalone on http://127.0.0.1:{args.port} (Ctrl-C stops it)")
    step(f"Log in as admin; the password is printed below on first start and kept in {password_file}")
    process = subprocess.Popen(airflow_command("standalone"), env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        # Ctrl-C reaches the child too (same process group); wait until it has stopped its servers.
        process.wait()
        return 130


def command_warehouse(args: argparse.Namespace) -> int:
    from saas_metrics.warehouse import ensure_warehouse_connection, stop_embedded

    if args.action == "stop":
        # The demo's server, and the one the test suite starts in its own data folder.
        servers = ((LOCAL_DIR / "pgdata", "Embedded PostgreSQL"), (LOCAL_DIR / "test" / "pgdata", "Test PostgreSQL"))
        for pgdata, name in servers:
            stopped = stop_embedded(pgdata)
            print(f"{name} stopped." if stopped else f"{name} was not running.")
    else:
        print(ensure_warehouse_connection())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="saas_metrics", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="run the daily pipeline on demo data, print monthly MRR and build the board report"
    )
    demo.add_argument(
        "--scale",
        type=demo_scale,
        default=1.0,
        help="size of the demo company, from 0.01 to 20 (1.0: ~4,200 customers)",
    )
    demo.add_argument("--seed", type=demo_seed, default=42, help="seed of the demo data generator (0 or more)")
    demo.add_argument("--date", type=demo_date, help="run the interval ending at 07:00 UTC on this date (YYYY-MM-DD)")
    demo.add_argument(
        "--history-start",
        type=demo_history_start,
        default="auto",
        help="first month of demo history (YYYY-MM-01) or auto (24 months)",
    )
    demo.add_argument(
        "--keep-raw-data",
        action="store_true",
        help="do not reload the demo data: run on the raw tables as they are, for example after editing rows",
    )
    demo.set_defaults(handler=command_demo)

    ui = commands.add_parser("ui", help="start Airflow locally (scheduler, API server, UI) with the DAGs")
    ui.add_argument("--port", type=int, default=8080, help="port of the Airflow UI on 127.0.0.1")
    ui.set_defaults(handler=command_ui)

    warehouse = commands.add_parser("warehouse", help="start or stop the embedded PostgreSQL warehouse")
    warehouse.add_argument("action", choices=["start", "stop", "uri"])
    warehouse.set_defaults(handler=command_warehouse)

    args = parser.parse_args(argv)
    if args.command == "demo":
        check_demo_dates(demo, args)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
