"""Run one templated SQL model against the warehouse as a single transaction.

A model file under sql/ is a `select` (or, for set-up scripts, a list of statements). Jinja
is used only for structure; every value reaches PostgreSQL as a bound parameter written
`{{ bind('name') }}` in the file, which renders to a psycopg placeholder (so a literal `%`
in a model must be written `%%`). The operator owns
how the result is written (its materialization), so that rerunning a task for the same data
interval always leaves the same table:

- ``table``: the whole table is replaced by the model's rows. An existing table is emptied and
  refilled in one transaction, which keeps its grants and the views that depend on it.
- ``partition``: only the rows matching ``partition_filter`` are replaced. Before writing, the
  operator checks that every row the model produced lies inside that partition, so a model can
  never write outside the part of the table its run owns.
- ``merge``: the model returns only the records that changed since ``changed_since`` (an
  instant of extraction), and the rows of those records, found by ``unique_key``, are replaced;
  the other rows stay. A record may have several rows. ``merge_keys`` names a table of the
  records to replace when a changed record can leave no rows. When ``changed_since`` is
  ``-infinity`` the model returns every record and the whole table is replaced, as with ``table``.
- ``script``: the statements run as they are (schema set-up, functions).

``indexes`` names columns of ``target`` that later reads look up: a column name, or a tuple of
column names for one index on several columns. Each gets an index, created
when missing in the same transaction, after the rows are written. So a table's first run builds
it once on the new rows instead of a later set-up step building it on every row of history.

A staging model that validates raw rows sets ``quarantine_source`` (the raw table it reads) and
returns every row it read once, with four bookkeeping columns: ``_rejection_reason`` (null for
a usable row), ``_record_key``, ``_raw_id`` and ``_extracted_at``. In the same transaction the
operator writes the rejected rows to ``staging.quarantine`` and only the usable rows, without
the bookkeeping columns, to ``target``, so a row is either staged or quarantined, never lost.
With ``table`` the source's whole quarantine partition is replaced. With ``partition`` and
``merge`` (incremental models) only the quarantine rows of the raw rows and records the run
read are replaced. The others stay, because a reason depends only on its raw row and the row
is outside the part of the table the run read. ``partition`` also removes the rows whose raw
row no longer exists. ``merge`` leaves that to the recompute plan, which has a source read in
full when rows up to its last watermark changed (see saas_metrics.incremental).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_BIND_NAME = _COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
MATERIALIZATIONS = ("table", "partition", "merge", "script")
# The changed_since of a merge that rebuilds the whole table.
EVERY_RECORD = "-infinity"
QUARANTINE_TABLE = "staging.quarantine"
QUARANTINE_COLUMNS = ("_rejection_reason", "_record_key", "_raw_id", "_extracted_at")
# The _record_key of a row without its business key (see sql/macros/staging.sql).
KEYLESS_RECORD = "missing key"


class SqlTransformError(RuntimeError):
    """A model could not be written; the target table was left as it was."""


def bind(name: str) -> str:
    """Jinja helper that renders a bound-parameter placeholder for `name`."""
    if not _BIND_NAME.match(name):
        raise ValueError(f"Invalid parameter name {name!r} in bind(): use lowercase letters, digits and _")
    return f"%({name})s"


class SqlTransformOperator(BaseOperator):
    """
    Render a SQL model and write its result to ``target`` in one transaction.

    :param sql: path of the model relative to the DAG's template search path (sql/), or SQL text.
    :param target: ``schema.table`` written by the model; required unless materialization is script.
    :param materialization: ``table``, ``partition``, ``merge`` or ``script`` (see the module docstring).
    :param partition_filter: SQL predicate on the target's columns that selects the partition this
        run owns, with values as ``%(name)s`` placeholders; required for ``partition``.
    :param parameters: values bound to the ``bind('name')`` placeholders and to the partition filter.
        Templated, so Airflow macros such as ``{{ data_interval_end }}`` can be used.
    :param quarantine_source: raw ``schema.table`` the model validates; its rejected rows go to
        staging.quarantine (see the module docstring).
    :param unique_key: column of the target that identifies a record; required for ``merge``.
    :param changed_since: for ``merge``, the extraction instant after which the model's records
        changed, or ``-infinity`` to rebuild the table. Templated; it is also bound to the
        model as ``changed_since``.
    :param merge_keys: for ``merge``, a ``schema.table`` with a ``unique_key`` column that lists
        more records to replace, besides those of the model's rows.
    :param indexes: columns of ``target`` to index, each a column name or a tuple of them (see
        the module docstring).
    :param conn_id: Airflow connection of the warehouse.
    """

    template_fields: Sequence[str] = ("sql", "parameters", "changed_since")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    ui_color = "#e3f0e8"

    def __init__(
        self,
        *,
        sql: str,
        target: str | None = None,
        materialization: str = "table",
        partition_filter: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        quarantine_source: str | None = None,
        unique_key: str | None = None,
        changed_since: str | None = None,
        merge_keys: str | None = None,
        indexes: Sequence[str] = (),
        conn_id: str = "warehouse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.target = target
        self.materialization = materialization
        self.partition_filter = partition_filter
        self.parameters = dict(parameters or {})
        self.quarantine_source = quarantine_source
        self.unique_key = unique_key
        self.changed_since = changed_since
        self.merge_keys = merge_keys
        self.indexes = indexes
        self.conn_id = conn_id

    def render_template_fields(self, context, jinja_env=None) -> None:
        context["bind"] = bind
        super().render_template_fields(context, jinja_env)

    @cached_property
    def hook(self):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id=self.conn_id)

    def execute(self, context) -> dict[str, int]:
        self._validate()
        started = time.monotonic()
        with self.hook.get_conn() as conn:
            result = run_transform(
                conn,
                sql=self.sql,
                target=self.target,
                materialization=self.materialization,
                partition_filter=self.partition_filter,
                parameters=self.parameters,
                quarantine_source=self.quarantine_source,
                unique_key=self.unique_key,
                changed_since=self.changed_since,
                merge_keys=self.merge_keys,
                indexes=self.indexes,
            )
        self.log.info(
            "%s %s: %d rows deleted, %d rows written in %.2f s",
            self.materialization,
            self.target or self.task_id,
            result["rows_deleted"],
            result["rows_written"],
            time.monotonic() - started,
        )
        if self.quarantine_source:
            self.log.info(
                "%s: %d rows quarantined in %s%s",
                self.quarantine_source,
                result["rows_quarantined"],
                QUARANTINE_TABLE,
                "".join(f"; {count} with reason '{reason}'" for reason, count in result["quarantine_reasons"].items()),
            )
        return result

    def _validate(self) -> None:
        problem = argument_problem(
            materialization=self.materialization,
            target=self.target,
            partition_filter=self.partition_filter,
            quarantine_source=self.quarantine_source,
            unique_key=self.unique_key,
            changed_since=self.changed_since,
            merge_keys=self.merge_keys,
            indexes=self.indexes,
        )
        if problem:
            raise ValueError(f"Task {self.task_id}: {problem}")


def argument_problem(
    *,
    materialization: str,
    target: str | None,
    partition_filter: str | None = None,
    quarantine_source: str | None = None,
    unique_key: str | None = None,
    changed_since: str | None = None,
    merge_keys: str | None = None,
    indexes: Sequence[str] = (),
) -> str | None:
    """Return what is wrong with the arguments of a transform, or None when they are valid."""
    if materialization not in MATERIALIZATIONS:
        return f"invalid materialization {materialization!r}; use one of {', '.join(MATERIALIZATIONS)}"
    if materialization != "script" and not (target and _IDENTIFIER.match(target)):
        return f"target must be a lowercase schema.table name, got {target!r}"
    if materialization == "partition" and not partition_filter:
        return "materialization 'partition' needs partition_filter"
    if materialization == "merge" and not (
        unique_key and _COLUMN.match(unique_key) and changed_since and (not merge_keys or _IDENTIFIER.match(merge_keys))
    ):
        return (
            "materialization 'merge' needs changed_since and unique_key, a lowercase column name, and "
            f"merge_keys must be a schema.table name; got {changed_since!r}, {unique_key!r} and {merge_keys!r}"
        )
    if quarantine_source and not (_IDENTIFIER.match(quarantine_source) and materialization != "script"):
        return (
            "quarantine_source must be a lowercase schema.table name and the materialization not script, "
            f"got {quarantine_source!r} with {materialization!r}"
        )
    if isinstance(indexes, str) or not all(_is_index_entry(entry) for entry in indexes):
        return f"indexes must be a list of lowercase column names or tuples of them, got {indexes!r}"
    if indexes and materialization == "script":
        return "a script has no target to index"
    return None


def _is_index_entry(entry) -> bool:
    """Tell whether `entry` of `indexes` is a lowercase column name or a non-empty tuple of them."""
    if isinstance(entry, str):
        return bool(_COLUMN.match(entry))
    if not isinstance(entry, (tuple, list)) or not entry:
        return False
    return all(isinstance(column, str) and _COLUMN.match(column) for column in entry)


def _referenced_names(text: str) -> set[str]:
    return set(re.findall(r"%\(([a-z_][a-z0-9_]*)\)s", text))


def run_transform(
    conn,
    *,
    sql: str,
    target: str | None,
    materialization: str,
    partition_filter: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    quarantine_source: str | None = None,
    unique_key: str | None = None,
    changed_since: str | None = None,
    merge_keys: str | None = None,
    indexes: Sequence[str] = (),
) -> dict[str, Any]:
    """Write a rendered model with an open psycopg connection and commit; roll back on any error.

    Returns ``{"rows_written": n, "rows_deleted": n}``, plus ``rows_quarantined`` and
    ``quarantine_reasons`` (count per reason) with ``quarantine_source``. Values are bound client-side by psycopg
    (``ClientCursor``), because PostgreSQL accepts no server-side parameters in
    ``create table ... as`` statements.
    """
    from psycopg import ClientCursor

    problem = argument_problem(
        materialization=materialization,
        target=target,
        partition_filter=partition_filter,
        quarantine_source=quarantine_source,
        unique_key=unique_key,
        changed_since=changed_since,
        merge_keys=merge_keys,
        indexes=indexes,
    )
    if problem:
        raise SqlTransformError(f"Transform of {target or 'script'} not run: {problem}")
    parameters = dict(parameters or {})
    is_merge = materialization == "merge" and str(changed_since) != EVERY_RECORD
    if materialization == "merge":
        parameters["changed_since"] = changed_since
        # A merge that rebuilds every record is a table replacement.
        materialization = "merge" if is_merge else "table"
    missing = _referenced_names(sql + (partition_filter or "")) - parameters.keys()
    if missing:
        raise SqlTransformError(
            f"Model for {target or 'script'} uses parameters that were not given: {', '.join(sorted(missing))}"
        )

    select = sql.strip().rstrip(";")
    deleted = 0
    try:
        with conn.transaction(), ClientCursor(conn) as cur:
            if materialization == "script":
                # Without parameters psycopg sends the text as it is, so a literal % needs no escaping.
                cur.execute(sql, parameters if _referenced_names(sql) else None)
                return {"rows_written": max(cur.rowcount, 0), "rows_deleted": 0}

            schema, table = target.split(".")
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f"create temporary table _model on commit drop as {select}", parameters)
            if is_merge:
                # Every record the model returned, usable or rejected, loses its old rows.
                listed = f"union select {unique_key} from {merge_keys}" if merge_keys else ""
                cur.execute(
                    f"create temporary table _merged on commit drop as "
                    f"select {unique_key} from _model where {unique_key} is not null {listed}"
                )
            if quarantine_source:
                quarantine = _split_quarantine(cur, quarantine_source, materialization, changed_since)
            written = cur.execute("select count(*) from _model").fetchone()[0]
            exists = cur.execute("select to_regclass(%s) is not null", (target,)).fetchone()[0]
            if not exists:
                cur.execute(f"create table {target} as select * from _model with no data")
            else:
                _check_same_columns(cur, target)
            was_empty = not cur.execute(f"select exists (select 1 from {target})").fetchone()[0]

            if materialization == "table":
                cur.execute(f"delete from {target}")
                deleted = cur.rowcount
            elif is_merge:
                _check_keyed(cur, target, unique_key, written)
                # The merge finds the old rows of its records by key, so the key is indexed.
                create_missing_index(cur, target, unique_key)
                cur.execute(f"delete from {target} where {unique_key} in (select {unique_key} from _merged)")
                deleted = cur.rowcount
            else:
                outside = cur.execute(
                    f"select count(*) from _model where not coalesce(({partition_filter}), false)",
                    parameters,
                ).fetchone()[0]
                if outside:
                    raise SqlTransformError(
                        f"{outside} of {written} rows for {target} fall outside the partition "
                        f"'{partition_filter}' with {parameters}; the model must only produce rows "
                        "of the partition it owns. Nothing was written."
                    )
                cur.execute(f"delete from {target} where {partition_filter}", parameters)
                deleted = cur.rowcount
            cur.execute(f"insert into {target} select * from _model")
            for columns in indexes:
                create_missing_index(cur, target, columns)
            if was_empty:
                # A table that was empty has no statistics for its rows. Without them PostgreSQL
                # guessed a few rows for filtered reads of it, and chose nested loops that made a
                # first run's subscription states take a minute instead of a second.
                cur.execute(f"analyze {target}")
    except SqlTransformError:
        raise
    except Exception as error:
        raise SqlTransformError(f"Transform of {target or 'script'} failed and was rolled back: {error}") from error
    result: dict[str, Any] = {"rows_written": written, "rows_deleted": deleted}
    if quarantine_source:
        result["rows_quarantined"] = sum(quarantine.values())
        result["quarantine_reasons"] = quarantine
    return result


def _split_quarantine(cur, source_table: str, materialization: str, changed_since: str | None = None) -> dict[str, int]:
    """Move the model's rejected rows to staging.quarantine and leave the usable ones in _model.

    Returns the number of rows quarantined per reason.
    """
    columns = [
        name
        for (name,) in cur.execute(
            "select attname from pg_attribute where attrelid = 'pg_temp._model'::regclass "
            "and attnum > 0 and not attisdropped order by attnum"
        ).fetchall()
    ]
    absent = [name for name in QUARANTINE_COLUMNS if name not in columns]
    if absent:
        raise SqlTransformError(
            f"A model with quarantine_source {source_table} must return the columns "
            f"{', '.join(QUARANTINE_COLUMNS)}; missing: {', '.join(absent)}"
        )
    cur.execute("create schema if not exists staging")
    cur.execute(
        f"""
        create table if not exists {QUARANTINE_TABLE} (
            source_system text, source_table text, raw_id text, record_key text, reason text,
            extracted_at timestamp with time zone
        )
        """
    )
    rejected = """
        select %(source_system)s::text, %(source_table)s::text, _raw_id::text, _record_key::text,
            _rejection_reason::text, _extracted_at::timestamptz
        from _model
        where _rejection_reason is not null
    """
    names = {"source_system": source_table.split(".")[0].removeprefix("raw_"), "source_table": source_table}
    if materialization == "table":
        cur.execute(f"delete from {QUARANTINE_TABLE} where source_table = %(source_table)s", names)
    else:
        # An incremental model reads only part of the raw table, so it replaces only the
        # quarantine rows it decides again. These are the rows of the raw rows it read and of
        # every record it read a row of, because a corrected version supersedes a rejected one.
        cur.execute(
            f"""
            delete from {QUARANTINE_TABLE}
            where source_table = %(source_table)s and (
                raw_id in (select _raw_id::text from _model)
                or record_key in (select _record_key::text from _model where _record_key <> %(keyless)s)
            )
            """,
            {**names, "keyless": KEYLESS_RECORD},
        )
        # Raw rows can also disappear (a full-refresh sync, a manual delete): their quarantine
        # rows go too, when the raw table has Airbyte's raw id column. A merge checks only the
        # rows extracted after changed_since, a range the extraction time's index keeps cheap,
        # because a run that failed before saving its watermark may have quarantined a row
        # deleted since. A partition model checks the whole table.
        if _has_column(cur, source_table, "_airbyte_raw_id"):
            since = changed_since if materialization == "merge" else "-infinity"
            cur.execute(
                f"""
                delete from {QUARANTINE_TABLE} as quarantined
                where
                    quarantined.source_table = %(source_table)s
                    and (%(since)s::timestamptz = '-infinity' or quarantined.extracted_at > %(since)s::timestamptz)
                    and not exists (
                        select 1 from {source_table} as raw
                        where
                            raw._airbyte_extracted_at > %(since)s::timestamptz
                            and raw._airbyte_raw_id::text = quarantined.raw_id
                    )
                """,
                {**names, "since": since},
            )
    cur.execute(f"insert into {QUARANTINE_TABLE} {rejected}", names)
    reasons = dict(
        cur.execute(
            "select _rejection_reason, count(*) from _model where _rejection_reason is not null "
            "group by 1 order by 2 desc, 1"
        ).fetchall()
    )
    kept = ", ".join(f'"{name}"' for name in columns if name not in QUARANTINE_COLUMNS)
    cur.execute(
        f"create temporary table _usable on commit drop as select {kept} from _model where _rejection_reason is null"
    )
    cur.execute("drop table _model")
    cur.execute("alter table _usable rename to _model")
    return reasons


def create_missing_index(cur, table: str, columns: str | Sequence[str]) -> bool:
    """Index `columns` (one column or several, in order) of the `schema.table` as
    <table>_<column>[_<column>...]_idx unless that index exists.

    Returns whether it was created. The catalog is read first because CREATE INDEX IF NOT
    EXISTS takes its lock before it looks: it waited for autovacuum on the table, up to a
    second on the daily run, to find an index that was there.
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    schema, name = table.split(".")
    index = f"{name}_{'_'.join(column.strip('_') for column in columns)}_idx"
    if cur.execute("select to_regclass(%s) is not null", (f"{schema}.{index}",)).fetchone()[0]:
        return False
    cur.execute(f"create index if not exists {index} on {table} ({', '.join(columns)})")
    return True


def _check_keyed(cur, target: str, unique_key: str, written: int) -> None:
    """Raise when a row to merge has no key, because no later merge could replace it."""
    missing = cur.execute(f"select count(*) from _model where {unique_key} is null").fetchone()[0]
    if missing:
        raise SqlTransformError(
            f"{missing} of the {written} rows to merge into {target} have no {unique_key}, so no later "
            "run could replace them; quarantine such rows in the model. Nothing was written."
        )


def _has_column(cur, table: str, column: str) -> bool:
    return cur.execute(
        "select exists (select 1 from pg_attribute where attrelid = to_regclass(%s) and attname = %s "
        "and not attisdropped)",
        (table, column),
    ).fetchone()[0]


def _check_same_columns(cur, target: str) -> None:
    """Raise when the model's columns differ from the table's, instead of writing shifted columns."""
    query = """
        select attname, format_type(atttypid, atttypmod)
        from pg_attribute
        where attrelid = %s::regclass and attnum > 0 and not attisdropped
        order by attnum
    """
    table_columns = cur.execute(query, (target,)).fetchall()
    model_columns = cur.execute(query, ("pg_temp._model",)).fetchall()
    if table_columns != model_columns:
        raise SqlTransformError(
            f"Columns of {target} {table_columns} differ from the model's {model_columns}. "
            f"The model changed shape: drop {target} (it is rebuilt from the model on the next run) "
            "or migrate it by hand."
        )
