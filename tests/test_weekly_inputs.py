"""The weekly DAG's inputs: the source-to-schema map and the look-up of optional and raw tables."""

from __future__ import annotations

from saas_metrics.weekly_inputs import RAW_SCHEMA_BY_SOURCE, find_weekly_inputs


def test_every_source_has_raw_schema():
    from saas_metrics.ingestion import load_sources

    names = {source.name for source in load_sources().sources}
    assert names == set(RAW_SCHEMA_BY_SOURCE)


def test_raw_schemas_match_demo_tables():
    from include.demo_data.schema import AIRBYTE_TABLES

    assert set(RAW_SCHEMA_BY_SOURCE.values()) == {table.schema for table in AIRBYTE_TABLES}


def _create_raw(conn):
    conn.execute("create schema raw_zendesk")
    conn.execute("create table raw_zendesk.tickets (_airbyte_extracted_at timestamptz, id bigint)")
    conn.execute('create table raw_zendesk."Odd Name" (_airbyte_extracted_at timestamptz, id bigint)')
    conn.execute("create table raw_zendesk.lookup (id bigint)")


def test_inputs_list_raw_tables(warehouse_db):
    with warehouse_db.connect() as conn:
        _create_raw(conn)
        inputs = find_weekly_inputs(conn)
    assert inputs["raw_tables"] == [{"source": "zendesk", "table": "raw_zendesk.tickets"}]


def test_inputs_flag_missing_tables(warehouse_db):
    with warehouse_db.connect() as conn:
        conn.execute("create schema analytics")
        conn.execute("create table analytics.ingestion_health (source text)")
        available = find_weekly_inputs(conn)["available"]
    assert available == {
        "analytics.query_audit_log": False,
        "analytics.ingestion_health": True,
        "analytics.data_quality_results": False,
    }


def test_inputs_list_optional_columns(warehouse_db):
    with warehouse_db.connect() as conn:
        conn.execute("create schema analytics")
        conn.execute("create table analytics.data_quality_results (run_id text, action text)")
        columns = find_weekly_inputs(conn)["columns"]
    assert columns == {"analytics.data_quality_results": ["run_id", "action"]}
