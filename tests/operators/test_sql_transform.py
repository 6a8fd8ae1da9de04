"""SqlTransformOperator and run_transform against the real PostgreSQL server."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers.airflow_runs import run_dag
from saas_metrics.operators.sql_transform import (
    SqlTransformError,
    SqlTransformOperator,
    bind,
    create_missing_index,
    run_transform,
)

MONTHS_MODEL = """
    select
        month_start::date as month_start,
        (extract(month from month_start) * %(multiplier)s)::numeric as amount
    from generate_series(%(first_month)s::date, %(last_month)s::date, interval '1 month') as month_start
"""
MONTH_FILTER = "month_start between %(first_month)s::date and %(last_month)s::date"


def _table_rows(warehouse_db, table):
    return warehouse_db.query(f"select * from {table} order by 1, 2")


def _write_months(conn, first_month, last_month, multiplier=1, sql=MONTHS_MODEL):
    return run_transform(
        conn,
        sql=sql,
        target="analytics.months",
        materialization="partition",
        partition_filter=MONTH_FILTER,
        parameters={"first_month": first_month, "last_month": last_month, "multiplier": multiplier},
    )


def test_partition_rerun_leaves_identical_table(warehouse_db):
    with warehouse_db.connect() as conn:
        _write_months(conn, "2026-01-01", "2026-06-01")
        first = _table_rows(warehouse_db, "analytics.months")
        result = _write_months(conn, "2026-01-01", "2026-06-01")
    second = _table_rows(warehouse_db, "analytics.months")
    assert first == second
    assert result == {"rows_written": 6, "rows_deleted": 6}


def test_partition_replaces_only_owned_months(warehouse_db):
    with warehouse_db.connect() as conn:
        _write_months(conn, "2026-01-01", "2026-06-01")
        _write_months(conn, "2026-03-01", "2026-04-01", multiplier=10)
    rows = dict(_table_rows(warehouse_db, "analytics.months"))
    assert rows[dt.date(2026, 2, 1)] == 2
    assert rows[dt.date(2026, 3, 1)] == 30
    assert rows[dt.date(2026, 4, 1)] == 40
    assert rows[dt.date(2026, 5, 1)] == 5
    assert len(rows) == 6


def test_failure_midway_keeps_previous_partition(warehouse_db):
    failing_model = MONTHS_MODEL.replace(
        "(extract(month from month_start) * %(multiplier)s)::numeric",
        "(1 / (extract(month from month_start) - 4) * %(multiplier)s)::numeric",
    )
    with warehouse_db.connect() as conn:
        _write_months(conn, "2026-01-01", "2026-06-01")
        before = _table_rows(warehouse_db, "analytics.months")
        with pytest.raises(SqlTransformError, match="division by zero"):
            _write_months(conn, "2026-01-01", "2026-06-01", sql=failing_model)
    assert _table_rows(warehouse_db, "analytics.months") == before


def test_rows_outside_partition_are_rejected(warehouse_db):
    with warehouse_db.connect() as conn:
        _write_months(conn, "2026-01-01", "2026-06-01")
        with pytest.raises(SqlTransformError, match="fall outside the partition"):
            run_transform(
                conn,
                sql=MONTHS_MODEL,
                target="analytics.months",
                materialization="partition",
                partition_filter="month_start = %(first_month)s::date",
                parameters={"first_month": "2026-01-01", "last_month": "2026-02-01", "multiplier": 7},
            )
    assert dict(_table_rows(warehouse_db, "analytics.months"))[dt.date(2026, 1, 1)] == 1


def test_table_materialization_keeps_dependent_view(warehouse_db):
    with warehouse_db.connect() as conn:
        run_transform(conn, sql="select 1 as x", target="analytics.numbers", materialization="table")
        conn.execute("create view analytics.numbers_view as select x from analytics.numbers")
        conn.commit()
        run_transform(conn, sql="select 2 as x union all select 3", target="analytics.numbers", materialization="table")
    assert warehouse_db.query("select x from analytics.numbers_view order by x") == [(2,), (3,)]


def test_changed_model_columns_raise(warehouse_db):
    with warehouse_db.connect() as conn:
        run_transform(conn, sql="select 1 as x", target="analytics.numbers", materialization="table")
        with pytest.raises(SqlTransformError, match="differ from the model"):
            run_transform(conn, sql="select 1 as x, 2 as y", target="analytics.numbers", materialization="table")


def test_missing_parameter_is_reported(warehouse_db):
    with warehouse_db.connect() as conn, pytest.raises(SqlTransformError, match="not given: month"):
        run_transform(conn, sql="select %(month)s as m", target="analytics.m", materialization="table")


def test_values_are_bound_not_spliced(warehouse_db):
    hostile = "x'); drop table analytics.numbers; --"
    with warehouse_db.connect() as conn:
        run_transform(conn, sql="select 1 as x", target="analytics.numbers", materialization="table")
        run_transform(conn, sql="select %(label)s::text as label", target="analytics.labels",
                      parameters={"label": hostile}, materialization="table")
    assert warehouse_db.query("select label from analytics.labels") == [(hostile,)]
    assert warehouse_db.query("select x from analytics.numbers") == [(1,)]


def test_bind_rejects_invalid_names():
    with pytest.raises(ValueError, match="Invalid parameter name"):
        bind("x); drop")


def test_operator_retry_does_not_duplicate_rows(warehouse_db, airflow_db):
    """Two runs of the same task in one DAG run (a retry) leave each month once."""
    from airflow.sdk import DAG

    with DAG(dag_id="transform_retry_check", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dag:
        SqlTransformOperator(
            task_id="months",
            sql=MONTHS_MODEL,
            target="analytics.months",
            materialization="partition",
            partition_filter=MONTH_FILTER,
            parameters={"first_month": "2026-01-01", "last_month": "2026-03-01", "multiplier": 1},
        )
    first_run = run_dag(dag, logical_date=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    second_run = run_dag(dag, logical_date=dt.datetime(2026, 4, 2, tzinfo=dt.UTC))
    assert first_run.state == "success"
    assert second_run.state == "success"
    counts = warehouse_db.query("select month_start, count(*) from analytics.months group by 1 order by 1")
    assert [count for _, count in counts] == [1, 1, 1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"materialization": "upsert", "target": "analytics.x"}, "invalid materialization"),
        ({"materialization": "table", "target": "x"}, "schema.table"),
        ({"materialization": "partition", "target": "analytics.x"}, "needs partition_filter"),
        ({"target": "analytics.x", "indexes": "month_start"}, "list of lowercase column names"),
        ({"target": "analytics.x", "indexes": ["month_start; drop table x"]}, "list of lowercase column names"),
        ({"target": "analytics.x", "indexes": [()]}, "or tuples of them"),
        ({"target": "analytics.x", "indexes": [("month_start", 1)]}, "or tuples of them"),
        ({"target": "analytics.x", "indexes": [("month_start", "mrr) include (x")]}, "or tuples of them"),
        ({"materialization": "script", "indexes": ["month_start"]}, "no target to index"),
    ],
)
def test_operator_validates_arguments(arguments, message):
    operator = SqlTransformOperator(task_id="check", sql="select 1", **arguments)
    with pytest.raises(ValueError, match=message):
        operator.execute(context={})


# A validating model: every input row once, rejected ones with a reason.
VALIDATING_MODEL = """
    select
        value,
        case when value < 0 then 'negative value ' || value end as _rejection_reason,
        'key_' || value as _record_key,
        'raw_' || value as _raw_id,
        '2026-01-01T00:00:00Z'::timestamptz as _extracted_at
    from unnest(%(values)s::int []) as value
"""


def _validate(conn, values, materialization="table", partition_filter=None, sql=VALIDATING_MODEL):
    return run_transform(
        conn,
        sql=sql,
        target="staging.numbers",
        materialization=materialization,
        partition_filter=partition_filter,
        parameters={"values": values},
        quarantine_source="raw_test.numbers",
    )


def test_quarantine_split_stages_usable_rows_and_keeps_rejected_ones(warehouse_db):
    with warehouse_db.connect() as conn:
        result = _validate(conn, [1, -2, 3, -4])
        assert result == {
            "rows_written": 2,
            "rows_deleted": 0,
            "rows_quarantined": 2,
            "quarantine_reasons": {"negative value -2": 1, "negative value -4": 1},
        }
        # A rerun with other rows replaces the source's quarantine instead of adding to it.
        _validate(conn, [5, -6])
    assert warehouse_db.query("select * from staging.numbers") == [(5,)]
    assert warehouse_db.query(
        "select source_system, source_table, raw_id, record_key, reason from staging.quarantine"
    ) == [("test", "raw_test.numbers", "raw_-6", "key_-6", "negative value -6")]


def test_quarantine_split_in_a_partition_replaces_only_the_rows_it_rejected(warehouse_db):
    with warehouse_db.connect() as conn:
        _validate(conn, [1, -2, 3, -4], materialization="partition", partition_filter="value > 0")
        _validate(conn, [3, -4, -8], materialization="partition", partition_filter="value >= 3")
    assert warehouse_db.query("select * from staging.numbers order by 1") == [(1,), (3,)]
    assert warehouse_db.query("select raw_id from staging.quarantine order by 1") == [
        ("raw_-2",), ("raw_-4",), ("raw_-8",)
    ]


def test_quarantine_split_needs_the_bookkeeping_columns(warehouse_db):
    with warehouse_db.connect() as conn:
        with pytest.raises(SqlTransformError, match="missing: _raw_id, _extracted_at"):
            _validate(conn, [1], sql="select 1 as value, null::text as _rejection_reason, 'k' as _record_key")
    assert warehouse_db.query("select to_regclass('staging.numbers')::text") == [(None,)]


def test_failed_write_leaves_the_quarantine_as_it_was(warehouse_db):
    with warehouse_db.connect() as conn:
        _validate(conn, [1, -2], materialization="partition", partition_filter="value > 0")
        with pytest.raises(SqlTransformError, match="fall outside the partition"):
            _validate(conn, [1, -3], materialization="partition", partition_filter="value > 5")
    assert warehouse_db.query("select raw_id from staging.quarantine") == [("raw_-2",)]


def test_quarantine_source_must_name_a_table():
    operator = SqlTransformOperator(
        task_id="bad", sql="select 1", target="staging.x", quarantine_source="Raw Numbers"
    )
    with pytest.raises(ValueError, match="quarantine_source must be a lowercase schema.table name"):
        operator._validate()


# A merge model: every value is a record keyed by its absolute value, and the values given
# are the records that changed.
MERGE_MODEL = """
    select
        abs(value) as record,
        value,
        case when value < 0 then 'negative value ' || value end as _rejection_reason,
        'key_' || abs(value) as _record_key,
        'raw_' || value as _raw_id,
        '2026-01-01T00:00:00Z'::timestamptz as _extracted_at
    from unnest(%(values)s::int []) as value
"""


def _merge(conn, values, changed_since="2026-01-01T00:00:00+00:00", sql=MERGE_MODEL):
    return run_transform(
        conn,
        sql=sql,
        target="staging.records",
        materialization="merge",
        unique_key="record",
        changed_since=changed_since,
        parameters={"values": values},
        quarantine_source="raw_test.records",
    )


def test_merge_replaces_only_the_changed_records(warehouse_db):
    with warehouse_db.connect() as conn:
        first = _merge(conn, [1, 2, -3, 4], changed_since="-infinity")
        # Record 2 becomes rejected, record 3 becomes usable, record 5 is new; 1 and 4 did not change.
        second = _merge(conn, [-2, 3, 5])
    assert first["rows_written"] == 3 and first["rows_quarantined"] == 1
    assert second == {
        "rows_written": 2,
        "rows_deleted": 1,
        "rows_quarantined": 1,
        "quarantine_reasons": {"negative value -2": 1},
    }
    assert warehouse_db.query("select record, value from staging.records order by 1") == [
        (1, 1), (3, 3), (4, 4), (5, 5)
    ]
    assert warehouse_db.query("select record_key, reason from staging.quarantine") == [
        ("key_2", "negative value -2")
    ]
    assert warehouse_db.query("select indexname from pg_indexes where tablename = 'records'") == [
        ("records_record_idx",)
    ]


def test_merge_since_minus_infinity_rebuilds_the_table(warehouse_db):
    with warehouse_db.connect() as conn:
        _merge(conn, [1, -2, 3], changed_since="-infinity")
        result = _merge(conn, [3, 4], changed_since="-infinity")
    assert result["rows_deleted"] == 2
    assert warehouse_db.query("select record from staging.records order by 1") == [(3,), (4,)]
    assert warehouse_db.query("select count(*) from staging.quarantine") == [(0,)]


def test_merge_rerun_changes_nothing(warehouse_db):
    with warehouse_db.connect() as conn:
        _merge(conn, [1, 2, -3], changed_since="-infinity")
        _merge(conn, [2, -3])
        before = warehouse_db.query("select * from staging.records order by 1")
        _merge(conn, [2, -3])
    assert warehouse_db.query("select * from staging.records order by 1") == before == [(1, 1), (2, 2)]
    assert warehouse_db.query("select raw_id from staging.quarantine") == [("raw_-3",)]


def test_merge_rejects_usable_rows_without_key(warehouse_db):
    with warehouse_db.connect() as conn:
        _merge(conn, [1, 2], changed_since="-infinity")
        keyless = MERGE_MODEL.replace("abs(value) as record", "nullif(abs(value), 3) as record")
        with pytest.raises(SqlTransformError, match="1 of the 2 rows to merge into staging.records have no record"):
            _merge(conn, [1, 3], sql=keyless)
    assert warehouse_db.query("select record from staging.records order by 1") == [(1,), (2,)]


def test_merge_replaces_records_listed_in_merge_keys(warehouse_db):
    with warehouse_db.connect() as conn:
        _merge(conn, [1, 2, 3], changed_since="-infinity")
        conn.execute("create table staging.record_changes as select 2 as record")
        conn.commit()
        # Record 2 changed but has no rows any more; record 1 is rewritten with a second row.
        result = run_transform(
            conn,
            sql="select 1 as record, value from unnest(array[1, 1]) as value",
            target="staging.records",
            materialization="merge",
            unique_key="record",
            changed_since="2026-01-01T00:00:00+00:00",
            merge_keys="staging.record_changes",
        )
    assert result == {"rows_written": 2, "rows_deleted": 2}
    assert warehouse_db.query("select record, value from staging.records order by 1") == [(1, 1), (1, 1), (3, 3)]


def test_merge_needs_a_key_and_a_change_instant():
    operator = SqlTransformOperator(task_id="bad", sql="select 1", target="staging.x", materialization="merge")
    with pytest.raises(ValueError, match="'merge' needs changed_since and unique_key"):
        operator._validate()


def test_merge_arguments_are_checked_without_the_operator(warehouse_db):
    with warehouse_db.connect() as conn:
        with pytest.raises(SqlTransformError, match="merge_keys must be a schema.table name"):
            run_transform(
                conn,
                sql="select 1 as record",
                target="staging.records",
                materialization="merge",
                unique_key="record",
                changed_since="2026-01-01",
                merge_keys="keys; drop table staging.records",
            )
    assert warehouse_db.query("select to_regclass('staging.records')::text") == [(None,)]


def _index_definitions(warehouse_db, table):
    return [
        definition
        for (definition,) in warehouse_db.query(
            "select indexdef from pg_indexes where schemaname || '.' || tablename = %s order by indexname", (table,)
        )
    ]


def test_indexes_built_once_and_kept(warehouse_db):
    with warehouse_db.connect() as conn:
        run_transform(
            conn,
            sql=MONTHS_MODEL,
            target="analytics.months",
            materialization="table",
            parameters={"first_month": "2026-01-01", "last_month": "2026-03-01", "multiplier": 1},
            indexes=["month_start", ("amount", "month_start")],
        )
        first = _index_definitions(warehouse_db, "analytics.months")
        _write_months(conn, "2026-02-01", "2026-02-01", multiplier=5)
    assert first == [
        "CREATE INDEX months_amount_month_start_idx ON analytics.months USING btree (amount, month_start)",
        "CREATE INDEX months_month_start_idx ON analytics.months USING btree (month_start)",
    ]
    assert _index_definitions(warehouse_db, "analytics.months") == first
    assert dict(_table_rows(warehouse_db, "analytics.months"))[dt.date(2026, 2, 1)] == 10


def test_existing_index_skips_lock_wait(warehouse_db):
    with warehouse_db.connect() as conn:
        _write_months(conn, "2026-01-01", "2026-02-01")
        assert create_missing_index(conn, "analytics.months", "month_start") is True
        conn.commit()
        # Autovacuum holds this lock mode, which conflicts with CREATE INDEX's.
        with warehouse_db.connect() as vacuum:
            vacuum.execute("lock table analytics.months in share update exclusive mode")
            conn.execute("set lock_timeout = '200ms'")
            assert create_missing_index(conn, "analytics.months", "month_start") is False
            conn.rollback()
