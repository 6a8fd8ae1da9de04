"""Inputs of the weekly DAG's models: optional tables and the raw tables of each source.

Some inputs of the weekly tables are written by other parts of the platform and may be
missing: analytics.query_audit_log (self-service runs), analytics.ingestion_health (Airbyte
sync attempts; absent in demo mode) and analytics.data_quality_results (quality-gate checks).
The task `find_weekly_inputs` looks them up once per run and returns the result as XCom. The
models read it in Jinja (`ti.xcom_pull(task_ids='find_weekly_inputs')`) to choose their
structure, because SQL cannot name a table that does not exist, even in a branch never taken.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

OPTIONAL_TABLES = (
    "analytics.query_audit_log",
    "analytics.ingestion_health",
    "analytics.data_quality_results",
)

# The raw schema that Airbyte's PostgreSQL destination writes each source of
# include/config/sources.yml to (the demo generator writes the same layout).
RAW_SCHEMA_BY_SOURCE = {
    "stripe": "raw_stripe",
    "product_postgres": "raw_product",
    "segment": "raw_segment",
    "salesforce": "raw_salesforce",
    "aws_cost_explorer": "raw_aws_cost",
    "zendesk": "raw_zendesk",
}

# Table names that the models may put in SQL unquoted. Other tables are skipped with a warning
# instead of being interpolated into SQL.
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

_COLUMNS_SQL = """
    select column_name
    from information_schema.columns
    where table_schema = %s and table_name = %s
    order by ordinal_position
"""
_RAW_TABLES_SQL = """
    select table_schema, table_name
    from information_schema.columns
    where table_schema = any(%s) and column_name = '_airbyte_extracted_at'
    order by table_schema, table_name
"""


def find_weekly_inputs(conn, sources: dict[str, str] | None = None) -> dict[str, Any]:
    """Return which optional tables exist and the Airbyte raw tables of each source.

    The result is JSON-serializable: ``{"available": {table: bool}, "columns": {table:
    [column, ...]}, "raw_tables": [{"source", "table"}]}``, where ``columns`` lists the columns
    of each optional table that exists. A raw table is a table with an ``_airbyte_extracted_at``
    column in a source's raw schema.

    :param conn: An open psycopg connection to the warehouse.
    :param sources: Source name to raw schema; default RAW_SCHEMA_BY_SOURCE.
    """
    sources = RAW_SCHEMA_BY_SOURCE if sources is None else sources
    available = {
        table: conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]
        for table in OPTIONAL_TABLES
    }
    columns = {
        table: [row[0] for row in conn.execute(_COLUMNS_SQL, tuple(table.split("."))).fetchall()]
        for table, exists in available.items()
        if exists
    }
    source_by_schema = {schema: source for source, schema in sources.items()}
    raw_tables = []
    for schema, table in conn.execute(_RAW_TABLES_SQL, (list(source_by_schema),)).fetchall():
        if not (_TABLE_NAME.match(schema) and _TABLE_NAME.match(table)):
            log.warning(
                "Skipping raw table %r.%r: the weekly models only read tables with lowercase names", schema, table
            )
            continue
        raw_tables.append({"source": source_by_schema[schema], "table": f"{schema}.{table}"})

    for table, exists in available.items():
        log.info("%s: %s", table, "available" if exists else "missing")
    log.info(
        "Raw tables with _airbyte_extracted_at: %d (%s)",
        len(raw_tables),
        ", ".join(entry["table"] for entry in raw_tables) or "none",
    )
    return {"available": available, "columns": columns, "raw_tables": raw_tables}
