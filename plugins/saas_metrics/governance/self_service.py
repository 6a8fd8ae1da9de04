"""Run a product-manager query template under the warehouse's guardrails, and record the run.

The query runs inside one transaction after SET LOCAL ROLE to the self-service role, so the
warehouse itself enforces what that role may read. The runner adds the checks that PostgreSQL
cannot make per query:

- at most `max_concurrent_queries` template queries at a time (transaction advisory locks);
- `statement_timeout` of `max_runtime_seconds` (SET ROLE does not load the role's settings);
- no query whose estimated scanned rows (from EXPLAIN) exceed `max_scan_rows`.

Only fixed template SQL runs this way, with every value bound as a query parameter: SET ROLE
can be undone by the session that issued it, so free SQL must never run through this path.
Results go to the table `analytics.self_service_<template>` and to a CSV file, and every run,
rejected and failed ones included, gets a row in `analytics.query_audit_log`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from saas_metrics import paths
from saas_metrics.governance.config import GovernanceConfig
from saas_metrics.governance.templates import QueryTemplate, TemplateParameterError
from saas_metrics.operators.sql_transform import bind

log = logging.getLogger(__name__)

AUDIT_LOG_SQL = paths.SQL_DIR / "governance" / "query_audit_log.sql"
# Plan nodes that read every row of their relation, whatever their filter keeps.
FULL_SCAN_NODES = ("Seq Scan", "Bitmap Heap Scan", "Sample Scan", "Tid Range Scan")


class GuardrailError(RuntimeError):
    """A guardrail rejected the query before it ran (scan estimate or concurrency)."""


class TemplateQueryError(RuntimeError):
    """The template query failed in the warehouse; `is_retryable` is false when a rerun cannot help."""

    def __init__(self, message: str, *, is_retryable: bool) -> None:
        super().__init__(message)
        self.is_retryable = is_retryable


# Errors a rerun of the same template cannot fix: the runtime limit, and missing privileges or
# views (governance not applied yet, or the role may not read what the template needs).
_PERMANENT_ERRORS = (
    psycopg.errors.QueryCanceled,
    psycopg.errors.InsufficientPrivilege,
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedColumn,
    psycopg.errors.UndefinedObject,
)


@dataclass(frozen=True)
class TemplateRun:
    query_id: uuid.UUID
    rows: list[dict[str, Any]]
    estimated_scan_rows: int
    duration_seconds: float
    result_table: str
    output_path: Path


def render_template_sql(template: QueryTemplate) -> str:
    """Render the template's SQL file, turning bind('name') into psycopg placeholders."""
    import jinja2

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return environment.from_string(template.sql_path.read_text()).render(bind=bind)


def estimate_scanned_rows(plan: Mapping[str, Any], table_rows: Callable[[str, str], float | None]) -> int:
    """Estimate the rows a plan reads from tables, from EXPLAIN (FORMAT JSON, VERBOSE) output.

    A full scan counts the table's rows (`table_rows`, from pg_class.reltuples), other scans
    their estimated output rows. The inner side of a nested loop and a SubPlan are counted once
    per estimated outer row.

    NOTE: the recursive part of a recursive CTE is counted once, however many iterations it
    runs, and a table that was never analyzed falls back to the planner's filtered row estimate.
    """

    def visit(node: Mapping[str, Any], loops: float) -> float:
        total = 0.0
        if "Relation Name" in node:
            rows = float(node.get("Plan Rows", 0))
            if node["Node Type"] in FULL_SCAN_NODES:
                size = table_rows(node.get("Schema", "public"), node["Relation Name"])
                if size is not None:
                    rows = max(rows, size)
            total += rows * loops
        children = node.get("Plans", [])
        for index, child in enumerate(children):
            child_loops = loops
            if node["Node Type"] == "Nested Loop" and index == 1:
                child_loops = loops * max(float(children[0].get("Plan Rows", 1)), 1.0)
            elif child.get("Parent Relationship") == "SubPlan":
                child_loops = loops * max(float(node.get("Plan Rows", 1)), 1.0)
            total += visit(child, child_loops)
        return total

    return round(visit(plan["Plan"], 1.0))


def _table_rows_lookup(cur) -> Callable[[str, str], float | None]:
    def table_rows(schema: str, relation: str) -> float | None:
        # By name through the catalog: to_regclass() would need USAGE on the schema, which the
        # self-service role lacks for the tables behind its views.
        row = cur.execute(
            """
            select c.reltuples
            from pg_class as c
            inner join pg_namespace as n on c.relnamespace = n.oid
            where n.nspname = %s and c.relname = %s
            """,
            (schema, relation),
        ).fetchone()
        # reltuples is -1 until the table is first analyzed or vacuumed.
        return float(row[0]) if row and row[0] >= 0 else None

    return table_rows


def _ensure_tables(conn, template: QueryTemplate) -> None:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(data_type))
        for name, data_type in template.result_columns
    )
    with conn.transaction():
        conn.execute(AUDIT_LOG_SQL.read_text())
        conn.execute(
            sql.SQL("create table if not exists {} (query_id uuid not null, {})").format(
                sql.Identifier(*template.result_table.split(".")), columns
            )
        )


def _acquire_slot(cur, role: str, max_concurrent: int | None) -> None:
    """Take one of the role's query slots for this transaction, or raise GuardrailError."""
    if not max_concurrent:
        return
    for slot in range(max_concurrent):
        if cur.execute("select pg_try_advisory_xact_lock(hashtext(%s), %s)", (role, slot)).fetchone()[0]:
            return
    raise GuardrailError(
        f"{max_concurrent} {role} template queries are already running (max_concurrent_queries); "
        "try again when one has finished"
    )


def _json_safe(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(parameters, default=str))


def _record(conn, values: dict[str, Any]) -> None:
    columns = list(values)
    with conn.transaction():
        conn.execute(
            sql.SQL("insert into analytics.query_audit_log ({}) values ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder(column) for column in columns),
            ),
            {**values, "query_parameters": psycopg.types.json.Jsonb(values["query_parameters"])},
        )


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Write the CSV next to its final name first, so a reader never sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".csv.partial")
    with partial.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)


def run_template(
    conn: psycopg.Connection,
    template: QueryTemplate,
    values: Mapping[str, Any],
    *,
    config: GovernanceConfig,
    requested_by: str,
    as_of: dt.datetime,
    time_zone: str = "UTC",
    dag_id: str | None = None,
    dag_run_id: str | None = None,
    output_dir: Path | None = None,
) -> TemplateRun:
    """Run `template` with the form `values` as the self-service role and record the run.

    Raises TemplateParameterError for invalid values and GuardrailError when a guardrail rejects
    the query, both before it runs, and TemplateQueryError when the warehouse rejects or cancels it.
    Every outcome is recorded in analytics.query_audit_log. Switches `conn` to autocommit,
    because each step below is its own explicit transaction.
    """
    role = config.role_name(config.self_service_role)
    limits = config.role(config.self_service_role).limits
    query_id = uuid.uuid4()
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    audit = {
        "query_id": query_id,
        "requested_by": requested_by,
        "executed_as_role": role,
        "template_name": template.name,
        "is_template_run": True,
        "query_parameters": _json_safe(values),
        "started_at": started_at,
        "dag_id": dag_id,
        "dag_run_id": dag_run_id,
    }

    conn.autocommit = True
    _ensure_tables(conn, template)
    try:
        parameters = {**template.bind(values, as_of), "time_zone": time_zone}
    except TemplateParameterError as error:
        _record(conn, {**audit, "outcome": "rejected", "error": str(error), "duration_seconds": 0})
        raise
    # The audit row keeps the values the query was run with, defaults filled in.
    audit["query_parameters"] = _json_safe(parameters)
    query = render_template_sql(template)
    estimated = None
    try:
        with conn.transaction(), conn.cursor() as cur:
            if cur.execute("select to_regrole(%s) is null", (role,)).fetchone()[0]:
                raise TemplateQueryError(
                    f"Role {role} does not exist: run the warehouse_governance DAG first", is_retryable=False
                )
            _acquire_slot(cur, role, limits.max_concurrent_queries)
            cur.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            if limits.max_runtime_seconds:
                cur.execute(
                    "select set_config('statement_timeout', %s, true)", (f"{limits.max_runtime_seconds}s",)
                )
            plan = cur.execute("explain (format json, verbose) " + query, parameters).fetchone()[0][0]
            estimated = estimate_scanned_rows(plan, _table_rows_lookup(cur))
            if limits.max_scan_rows and estimated > limits.max_scan_rows:
                raise GuardrailError(
                    f"Template {template.name} would scan about {estimated:,} rows, more than the "
                    f"{limits.max_scan_rows:,} allowed for {config.self_service_role}; narrow the date range"
                )
            cur.execute(query, parameters)
            columns = [column.name for column in cur.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    except TemplateQueryError as error:
        _record(conn, {**audit, "outcome": "failed", "error": str(error), "duration_seconds": 0})
        raise
    except GuardrailError as error:
        _record(
            conn,
            {
                **audit,
                "outcome": "rejected",
                "estimated_scan_rows": estimated,
                "error": str(error),
                "duration_seconds": round(time.monotonic() - started, 3),
            },
        )
        log.warning("Rejected template %s (query %s): %s", template.name, query_id, error)
        raise
    except psycopg.Error as error:
        message = str(error).strip()
        if isinstance(error, psycopg.errors.QueryCanceled):
            message = f"cancelled after the {limits.max_runtime_seconds} s runtime limit: {message}"
        _record(
            conn,
            {
                **audit,
                "outcome": "failed",
                "estimated_scan_rows": estimated,
                "error": message,
                "duration_seconds": round(time.monotonic() - started, 3),
            },
        )
        raise TemplateQueryError(
            f"Template {template.name} failed as role {role} (query {query_id}): {message}",
            is_retryable=not isinstance(error, _PERMANENT_ERRORS),
        ) from error

    if template.post_process is not None:
        rows = template.post_process(rows, parameters)
    result_columns = [name for name, _ in template.result_columns]
    output_path = (
        (output_dir or paths.OUTPUT_DIR)
        / "self_service"
        / template.name
        / (f"{started_at:%Y%m%dT%H%M%SZ}_{query_id}.csv")
    )
    _write_csv(output_path, result_columns, rows)

    duration = round(time.monotonic() - started, 3)
    table = sql.Identifier(*template.result_table.split("."))
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            sql.SQL("insert into {} (query_id, {}) values (%(query_id)s, {})").format(
                table,
                sql.SQL(", ").join(map(sql.Identifier, result_columns)),
                sql.SQL(", ").join(sql.Placeholder(name) for name in result_columns),
            ),
            [{**row, "query_id": query_id} for row in rows],
        )
    _record(
        conn,
        {
            **audit,
            "outcome": "succeeded",
            "rows_returned": len(rows),
            "estimated_scan_rows": estimated,
            "duration_seconds": duration,
            "result_table": template.result_table,
            "output_path": str(output_path),
        },
    )
    log.info(
        "Template %s (query %s) for %s: %d rows, about %d rows scanned, %.2f s; results in %s and %s",
        template.name,
        query_id,
        requested_by,
        len(rows),
        estimated,
        duration,
        template.result_table,
        output_path,
    )
    return TemplateRun(
        query_id=query_id,
        rows=rows,
        estimated_scan_rows=estimated,
        duration_seconds=duration,
        result_table=template.result_table,
        output_path=output_path,
    )


def run_template_with_connection(
    conn_id: str,
    template_name: str,
    values: Mapping[str, Any],
    *,
    requested_by: str,
    as_of: dt.datetime,
    dag_id: str | None = None,
    dag_run_id: str | None = None,
) -> dict[str, Any]:
    """Run a template through an Airflow connection; a rejected query fails the task without retries."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk.exceptions import AirflowFailException

    from saas_metrics.config import load_metrics_config
    from saas_metrics.governance.config import load_governance_config
    from saas_metrics.governance.templates import get_template

    template = get_template(template_name)
    try:
        with PostgresHook(postgres_conn_id=conn_id).get_conn() as conn:
            run = run_template(
                conn,
                template,
                values,
                config=load_governance_config(),
                requested_by=requested_by,
                as_of=as_of,
                time_zone=load_metrics_config().reporting_time_zone,
                dag_id=dag_id,
                dag_run_id=dag_run_id,
            )
    except (TemplateParameterError, GuardrailError) as error:
        raise AirflowFailException(str(error)) from error
    except TemplateQueryError as error:
        if error.is_retryable:
            raise
        raise AirflowFailException(str(error)) from error
    return {
        "query_id": str(run.query_id),
        "rows": len(run.rows),
        "estimated_scan_rows": run.estimated_scan_rows,
        "result_table": run.result_table,
        "output_path": str(run.output_path),
    }
