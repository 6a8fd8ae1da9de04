"""The tables and columns governance may refer to: declared in a file, or read from the warehouse.

The declared list (include/config/warehouse_tables.yml) lets CI validate governance.yml with no
warehouse. At apply time the live catalog wins, and a declared table that does not exist yet is
pending rather than unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from saas_metrics.config import ConfigError
from saas_metrics.paths import CONFIG_DIR

# Schemas the apply step creates and owns; they are never sources of governed tables.
MANAGED_SCHEMA_COMMENT = "Managed by warehouse governance"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str = "text"


@dataclass(frozen=True)
class Catalog:
    """Tables by `schema.table` with their columns in order, and every known schema."""

    tables: dict[str, tuple[Column, ...]] = field(default_factory=dict)
    schemas: frozenset[str] = frozenset()

    def columns(self, table: str) -> tuple[str, ...]:
        return tuple(column.name for column in self.tables.get(table, ()))

    def merged_over(self, declared: Catalog) -> Catalog:
        """Return the declared catalog overlaid with this (live) one; live columns win."""
        return Catalog(
            tables={**declared.tables, **self.tables},
            schemas=declared.schemas | self.schemas,
        )


def parse_declared_catalog(data: object, source: Path) -> Catalog:
    if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
        raise ConfigError(f"{source}: expected a mapping with a 'tables' mapping of schema.table to columns")
    tables = {}
    for table, columns in data["tables"].items():
        if "." not in str(table) or not isinstance(columns, list) or not columns:
            raise ConfigError(
                f"{source}: table {table!r} needs a schema.table name and a non-empty list of columns"
            )
        tables[str(table)] = tuple(Column(str(column)) for column in columns)
    schemas = frozenset(str(schema) for schema in data.get("schemas") or [])
    return Catalog(tables=tables, schemas=schemas | {table.split(".")[0] for table in tables})


@lru_cache(maxsize=4)
def load_declared_catalog(path: Path = CONFIG_DIR / "warehouse_tables.yml") -> Catalog:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"Declared table list not found: {path}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from error
    return parse_declared_catalog(data, path)


def read_live_catalog(cur) -> Catalog:
    """Read tables, views and their columns from the connected database.

    Schemas the apply step owns (marked by their comment) and system schemas are left out, so
    that governed views are never taken for source tables.
    """
    managed = _managed_schemas(cur)
    rows = cur.execute(
        """
        select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_class as c
        inner join pg_namespace as n on c.relnamespace = n.oid
        inner join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relkind in ('r', 'p', 'v', 'm', 'f')
            and n.nspname <> all(%(excluded)s)
            and n.nspname not like 'pg\\_temp\\_%%'
            and n.nspname not like 'pg\\_toast\\_temp\\_%%'
        order by n.nspname, c.relname, a.attnum
        """,
        {"excluded": [*SYSTEM_SCHEMAS, *managed]},
    ).fetchall()
    tables: dict[str, list[Column]] = {}
    for schema, table, column, data_type in rows:
        tables.setdefault(f"{schema}.{table}", []).append(Column(column, data_type))
    schemas = cur.execute(
        "select nspname from pg_namespace where nspname <> all(%(excluded)s) and nspname not like 'pg\\_%%'",
        {"excluded": [*SYSTEM_SCHEMAS, *managed]},
    ).fetchall()
    return Catalog(
        tables={table: tuple(columns) for table, columns in tables.items()},
        schemas=frozenset(name for (name,) in schemas),
    )


def _managed_schemas(cur) -> list[str]:
    rows = cur.execute(
        """
        select n.nspname
        from pg_namespace as n
        inner join pg_description as d
            on d.objoid = n.oid and d.classoid = 'pg_namespace'::regclass
        where d.description like %(marker)s
        """,
        {"marker": MANAGED_SCHEMA_COMMENT + "%"},
    ).fetchall()
    return [name for (name,) in rows]
