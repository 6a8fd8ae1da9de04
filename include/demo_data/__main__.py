"""Command line: generate the demo data set and load it into the warehouse.

    python -m include.demo_data --scale 0.05
    python -m include.demo_data --seed 7 --until 2026-06-01T07:00:00+00:00 --finance-dir output/finance
    python -m include.demo_data --no-load

Without --dsn, the data goes to the warehouse of AIRFLOW_CONN_WAREHOUSE, or to the embedded
PostgreSQL server started on demand (plugins/ must be on PYTHONPATH, as `make` sets it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime

from include.demo_data.generator import (
    DEFAULT_HISTORY_START,
    DEFAULT_SCALE,
    DEFAULT_SEED,
    DEFAULT_UNTIL,
    generate,
)
from include.demo_data.loader import load

log = logging.getLogger("include.demo_data")


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add one, e.g. {text}+00:00")
    return value.astimezone(UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m include.demo_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    parser.add_argument(
        "--scale",
        type=float,
        default=DEFAULT_SCALE,
        help="multiplier for customers, users and events (default %(default)s)",
    )
    parser.add_argument(
        "--history-start",
        type=date.fromisoformat,
        default=DEFAULT_HISTORY_START,
        help="first day of the first simulated month, YYYY-MM-01 (default %(default)s)",
    )
    parser.add_argument(
        "--until",
        type=_timestamp,
        default=DEFAULT_UNTIL,
        help="cut-off with time zone, ISO 8601 (default %(default)s)",
    )
    parser.add_argument("--dsn", help="libpq connection string or URI; default: the warehouse connection")
    parser.add_argument("--no-load", action="store_true", help="generate and print row counts only")
    parser.add_argument("--finance-dir", help="folder for finance_arr.csv and fx_rates.csv")
    return parser


def _warehouse_dsn() -> str:
    from saas_metrics.warehouse import ensure_warehouse_connection

    return ensure_warehouse_connection()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    dataset = generate(seed=args.seed, scale=args.scale, history_start=args.history_start, until=args.until)
    if args.finance_dir:
        for path in dataset.write_finance_files(args.finance_dir):
            log.info("Wrote %s", path)
    if not args.no_load:
        import psycopg

        with psycopg.connect(args.dsn or _warehouse_dsn()) as conn:
            load(conn, dataset)

    width = max(len(name) for name in dataset.tables)
    for name, count in dataset.row_counts().items():
        print(f"{name:<{width}}  {count:>10,}")
    latest = dataset.finance[-1] if dataset.finance else None
    if latest is not None:
        print(
            f"true MRR at the end of {latest.month:%Y-%m}: {latest.true_mrr_usd:,.2f} USD; "
            f"finance reports ARR {latest.reported_arr_usd:,.2f} USD"
        )
    timings = ", ".join(f"{key} {value:.1f} s" for key, value in dataset.timings.items())
    print(f"timings: {timings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
