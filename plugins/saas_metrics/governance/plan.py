"""The desired warehouse state for a governance configuration: views and privileges.

Pure functions of the configuration and a catalog, so that the apply step only has to compare
this plan with the database and issue the difference. The model:

- A governed table (one with a tag that masks or audits a column) is read only through the view
  `governed_<schema>.<table>`. Each tagged column is an expression that masks the value for
  roles that are not exempt (checked with pg_has_role at query time) and, for audited columns,
  logs the read through audit.log_column_read.
- Every other table in a role's allowed schemas is granted directly, minus denied tables.
- A curated schema contains views over source tables for the roles allowed to read it, without the
  columns any of those roles is denied.
- Columns a role is denied are never granted: a table or governed view that has one is granted
  column by column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

from psycopg import sql

from saas_metrics.governance.catalog import Catalog, Column
from saas_metrics.governance.config import (
    AUDIT_SCHEMA,
    GOVERNED_SCHEMA_PREFIX,
    GovernanceConfig,
    GovernanceTag,
)

AUDIT_FUNCTION = "log_column_read"
AUDIT_FUNCTION_ARGUMENTS = "text, text"
REDACTED_TEXT = "[redacted]"
_TEXT_TYPES = ("text", "character varying", "character", "citext", "name")


class Privilege(NamedTuple):
    """One privilege of one role, in the shape the catalog's ACLs are read into.

    kind is schema, table, sequence, column or routine. detail is the column name for a column
    privilege and the argument types for a routine, and empty otherwise.
    """

    kind: str
    schema: str
    name: str
    detail: str
    privilege: str
    role: str


@dataclass(frozen=True)
class ViewSpec:
    schema: str
    name: str
    source: str
    columns: tuple[str, ...]
    select: sql.Composed
    has_audited_column: bool

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def create_statement(self) -> sql.Composed:
        return sql.SQL("create or replace view {} as {}").format(
            sql.Identifier(self.schema, self.name), self.select
        )

    def fingerprint(self) -> str:
        """Return a digest of the view's definition, stored in its comment to detect changes."""
        return hashlib.sha256(self.create_statement().as_string().encode()).hexdigest()


@dataclass(frozen=True)
class Plan:
    views: tuple[ViewSpec, ...]
    managed_schemas: dict[str, str]  # schema name -> description
    privileges: frozenset[Privilege]
    pending_tables: dict[str, str]  # schema.table -> reason
    applied_tables: tuple[str, ...]


def governed_view_name(table: str) -> tuple[str, str]:
    schema, name = table.split(".", 1)
    return f"{GOVERNED_SCHEMA_PREFIX}{schema}", name


def _is_text(column: Column) -> bool:
    return column.data_type.startswith(_TEXT_TYPES)


def _masked_value(tag: GovernanceTag, column: Column) -> sql.Composable:
    value = sql.Identifier(column.name)
    if tag.masking == "hash_sha256":
        # Hex digest of the UTF-8 text form; null stays null. The column's type becomes text.
        return sql.SQL("encode(sha256(convert_to({}::text, 'UTF8')), 'hex')").format(value)
    if _is_text(column):
        return sql.SQL("case when {} is not null then {} end").format(value, sql.Literal(REDACTED_TEXT))
    return sql.SQL("null::{}").format(sql.SQL(column.data_type))


def _clear_value(tag: GovernanceTag, column: Column) -> sql.Composable:
    """Return the unmasked value, cast to the masked value's type so that both case branches agree."""
    value = sql.Identifier(column.name)
    if tag.masking == "hash_sha256" or _is_text(column):
        return sql.SQL("{}::text").format(value)
    return value


def column_expression(config: GovernanceConfig, table: str, column: Column) -> sql.Composable:
    """Build the select-list expression of `column` in a governed or curated view of `table`."""
    tag = next((tag for tag in config.tags_for(table) if tag.column == column.name), None)
    expression: sql.Composable = sql.Identifier(column.name)
    if tag is None:
        return expression

    if tag.masking != "none":
        masked = _masked_value(tag, column)
        if tag.exempt_roles:
            # pg_has_role(..., 'usage') is true when the querying user has the privileges of the
            # exempt role (directly, through inherited membership, or as superuser).
            exempt = sql.SQL(" or ").join(
                sql.SQL("pg_has_role({}, 'usage')").format(sql.Literal(config.role_name(role)))
                for role in tag.exempt_roles
            )
            expression = sql.SQL("case when {} then {} else {} end").format(
                exempt, _clear_value(tag, column), masked
            )
        else:
            expression = masked

    if tag.access_audit:
        # The sub-select becomes an InitPlan: it runs once per query and only when the query
        # reads this column, so selecting other columns of the view is not logged.
        expression = sql.SQL("case when (select {}.{}({}, {})) then {} end").format(
            sql.Identifier(AUDIT_SCHEMA),
            sql.Identifier(AUDIT_FUNCTION),
            sql.Literal(table),
            sql.Literal(column.name),
            expression,
        )
    return expression


def _view(
    config: GovernanceConfig, schema: str, name: str, source: str, columns: tuple[Column, ...]
) -> ViewSpec:
    select_list = sql.SQL(",\n    ").join(
        sql.SQL("{} as {}").format(column_expression(config, source, column), sql.Identifier(column.name))
        for column in columns
    )
    source_schema, source_table = source.split(".", 1)
    audited = {tag.column for tag in config.tags_for(source) if tag.access_audit}
    return ViewSpec(
        schema=schema,
        name=name,
        source=source,
        columns=tuple(column.name for column in columns),
        select=sql.SQL("select\n    {}\nfrom {}").format(
            select_list, sql.Identifier(source_schema, source_table)
        ),
        has_audited_column=any(column.name in audited for column in columns),
    )


def _select_privileges(
    kind_schema: str, name: str, columns: tuple[str, ...], denied: tuple[str, ...], role: str
):
    """SELECT on a whole relation, or on its allowed columns when some are denied."""
    visible = [column for column in columns if column not in denied]
    if len(visible) == len(columns):
        return [Privilege("table", kind_schema, name, "", "SELECT", role)]
    return [Privilege("column", kind_schema, name, column, "SELECT", role) for column in visible]


def build_plan(config: GovernanceConfig, live: Catalog, declared: Catalog) -> Plan:
    """Compute the views and privileges that `config` requests, given the tables that exist (`live`)."""
    pending = {}
    for table in config.referenced_tables():
        if table not in live.tables:
            source = "declared in warehouse_tables.yml" if table in declared.tables else "unknown"
            pending[table] = (
                f"table does not exist yet ({source}); governed on the first apply after it is built"
            )

    views: dict[tuple[str, str], ViewSpec] = {}
    managed_schemas: dict[str, str] = {}
    for table in config.governed_tables:
        if table in live.tables:
            schema, name = governed_view_name(table)
            managed_schemas[schema] = f"Governed views of {table.split('.')[0]} tables"
            views[(schema, name)] = _view(config, schema, name, table, live.tables[table])

    for curated in config.curated_schemas:
        managed_schemas[curated.name] = curated.description or f"Curated views {curated.name}"
        excluded = config.curated_excluded_columns(curated.name)
        for name, source in curated.views:
            if source in live.tables:
                columns = tuple(column for column in live.tables[source] if column.name not in excluded)
                views[(curated.name, name)] = _view(config, curated.name, name, source, columns)

    privileges: set[Privilege] = set()
    governed = set(config.governed_tables)
    curated_names = {curated.name for curated in config.curated_schemas}
    for role in config.roles:
        role_name = config.role_name(role.name)
        readable_views: list[ViewSpec] = []
        for schema in role.allowed_schemas:
            if schema in live.schemas or schema in curated_names:
                privileges.add(Privilege("schema", schema, "", "", "USAGE", role_name))

        for table, columns in live.tables.items():
            if not role.can_read(table):
                continue
            if table in governed:
                view = views[governed_view_name(table)]
                readable_views.append(view)
                schema, name = view.schema, view.name
                privileges.add(Privilege("schema", schema, "", "", "USAGE", role_name))
            else:
                schema, name = table.split(".", 1)
            column_names = tuple(column.name for column in columns)
            privileges.update(_select_privileges(schema, name, column_names, role.denied_columns, role_name))

        for curated in config.curated_schemas:
            if curated.name not in role.allowed_schemas:
                continue
            for view_name, _ in curated.views:
                view = views.get((curated.name, view_name))
                if view is not None:
                    readable_views.append(view)
                    privileges.update(
                        _select_privileges(
                            view.schema, view.name, view.columns, role.denied_columns, role_name
                        )
                    )

        if any(view.has_audited_column for view in readable_views):
            privileges.add(
                Privilege(
                    "routine", AUDIT_SCHEMA, AUDIT_FUNCTION, AUDIT_FUNCTION_ARGUMENTS, "EXECUTE", role_name
                )
            )

    applied = tuple(table for table in config.referenced_tables() if table not in pending)
    return Plan(
        views=tuple(views[key] for key in sorted(views)),
        managed_schemas=managed_schemas,
        privileges=frozenset(privileges),
        pending_tables=pending,
        applied_tables=applied,
    )
