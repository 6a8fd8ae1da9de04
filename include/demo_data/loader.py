"""Bulk load of a generated data set into PostgreSQL with COPY, in one transaction."""

from __future__ import annotations

import logging
import time

from include.demo_data.dataset import DemoDataset
from include.demo_data.schema import ALL_TABLES, SCHEMAS

log = logging.getLogger(__name__)


class LoadError(RuntimeError):
    """The data set could not be loaded; the transaction was rolled back."""


def load(conn, dataset: DemoDataset) -> dict[str, int]:
    """Replace the contents of every raw demo table with `dataset` and return rows per table.

    Runs in one transaction on `conn`, an open psycopg 3 connection with no transaction in
    progress: creates the schemas and tables if missing, truncates them, COPYs every table and
    commits. A failure rolls everything back, so readers see either the old or the new data.
    COPY uses FREEZE, which PostgreSQL allows because the tables were truncated in the same
    transaction. The rows are then visible to snapshots taken before the commit, like TRUNCATE.
    After the commit every table is vacuumed and analyzed.
    """
    from psycopg import pq
    from psycopg.copy import QueuedLibpqWriter

    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise LoadError(
            f"connection is in transaction state {conn.info.transaction_status.name}; "
            "commit or roll back before loading demo data"
        )
    missing = [spec.qualified_name for spec in ALL_TABLES if spec.qualified_name not in dataset.tables]
    if missing:
        raise LoadError(f"data set has no rows for tables {missing}")

    started = time.perf_counter()
    counts: dict[str, int] = {}
    with conn.transaction():
        cursor = conn.cursor()
        for schema in SCHEMAS:
            cursor.execute(f"create schema if not exists {schema}")
        for spec in ALL_TABLES:
            cursor.execute(spec.create_statement())
        cursor.execute("truncate " + ", ".join(spec.qualified_name for spec in ALL_TABLES))
        for spec in ALL_TABLES:
            table = dataset.tables[spec.qualified_name]
            table_started = time.perf_counter()
            options = f"(format {table.copy_format}, freeze)"
            with cursor.copy(
                f"{spec.copy_statement()} with {options}", writer=QueuedLibpqWriter(cursor)
            ) as copy:
                for chunk in table.copy_chunks():
                    copy.write(chunk)
            counts[spec.qualified_name] = cursor.rowcount
            if cursor.rowcount != len(table):
                raise LoadError(
                    f"COPY into {spec.qualified_name} wrote {cursor.rowcount} rows, expected {len(table)}"
                )
            log.info(
                "Loaded %s: %d rows in %.1f s",
                spec.qualified_name,
                cursor.rowcount,
                time.perf_counter() - table_started,
            )
    _vacuum(conn)
    dataset.timings["load_seconds"] = time.perf_counter() - started
    log.info(
        "Loaded %d rows into %d tables in %.1f s",
        sum(counts.values()),
        len(counts),
        dataset.timings["load_seconds"],
    )
    return counts


def _vacuum(conn) -> None:
    """Vacuum and analyze every raw demo table after the load's commit, then checkpoint.

    Without statistics PostgreSQL guesses the row counts of the next run's reads. The demo
    rewrites all history, where a sync writes only the new rows. So autovacuum and the
    checkpointer would then work on millions of rows during the pipeline's first tasks, and
    the load does that work itself. CHECKPOINT needs a superuser or the pg_checkpoint role,
    and without either the load goes on. VACUUM cannot run inside a transaction, so the
    connection is switched to autocommit.
    """
    from psycopg import errors

    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        for spec in ALL_TABLES:
            conn.execute(f"vacuum (analyze) {spec.qualified_name}")
        try:
            conn.execute("checkpoint")
        except errors.InsufficientPrivilege:
            log.info("No CHECKPOINT after the demo load: the warehouse user may not run it")
    finally:
        conn.autocommit = autocommit
