"""Governance configuration from include/config/governance.yml, validated before it is applied.

`parse_governance_config` checks the file on its own: known keys, roles, classifications,
masking policies, and that every role able to read a masked column is either masked or exempt.
`check_references` checks the tables, columns and schemas it names against a catalog: the
declared list in CI, the live warehouse at apply time. DAG files read this at parse time, so it
only opens small YAML files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

import yaml

from saas_metrics.config import ConfigError
from saas_metrics.governance.catalog import Catalog
from saas_metrics.paths import CONFIG_DIR

CLASSIFICATIONS = ("PII", "PCI", "FINANCIAL")
MASKING_POLICIES = ("hash_sha256", "redact", "none")
ALL_ROLES = "all"
GOVERNED_SCHEMA_PREFIX = "governed_"
# Schemas the apply step creates for its own state and for the column-access audit.
STATE_SCHEMA = "governance"
AUDIT_SCHEMA = "audit"
RESERVED_SCHEMAS = (STATE_SCHEMA, AUDIT_SCHEMA, "public", "pg_catalog", "information_schema")
# Overrides role_prefix from the file; tests and shared clusters give each database its own prefix.
ROLE_PREFIX_ENV = "SAAS_METRICS_GOVERNANCE_ROLE_PREFIX"
MAX_IDENTIFIER_LENGTH = 63

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_PREFIX = re.compile(r"^([a-z_][a-z0-9_]*)?$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_TABLE_PATTERN = re.compile(r"^[a-z_*][a-z0-9_*]*\.[a-z_*][a-z0-9_*]*$")

_TOP_LEVEL_KEYS = {"role_prefix", "roles", "governance_tags", "curated_schemas", "self_service"}
_ROLE_KEYS = {"description", "allowed_schemas", "denied_tables", "denied_columns", "limits"}
_LIMIT_KEYS = {"max_runtime_seconds", "max_concurrent_queries", "max_scan_rows"}
_TAG_KEYS = {
    "table",
    "column",
    "classification",
    "masking",
    "applies_to_roles",
    "exempt_roles",
    "access_audit",
}
_CURATED_KEYS = {"description", "views"}


@dataclass(frozen=True)
class RoleLimits:
    max_runtime_seconds: int | None = None
    max_concurrent_queries: int | None = None
    max_scan_rows: int | None = None


@dataclass(frozen=True)
class RolePolicy:
    """Read access of one group role, and the limits on its members' sessions."""

    name: str
    description: str
    allowed_schemas: tuple[str, ...]
    denied_tables: tuple[str, ...] = ()
    denied_columns: tuple[str, ...] = ()
    limits: RoleLimits = field(default_factory=RoleLimits)

    def is_denied(self, table: str) -> bool:
        return any(fnmatchcase(table, pattern) for pattern in self.denied_tables)

    def can_read(self, table: str) -> bool:
        """Return whether the role may read `table` (schema.table), directly or through its view."""
        return table.split(".", 1)[0] in self.allowed_schemas and not self.is_denied(table)


@dataclass(frozen=True)
class GovernanceTag:
    table: str
    column: str
    classification: str
    masking: str = "none"
    applies_to_roles: tuple[str, ...] = ()
    exempt_roles: tuple[str, ...] = ()
    access_audit: bool = False

    def masks_for(self, role: str) -> bool:
        """Return whether `role` gets the masked value; roles in neither list get it too (fail closed)."""
        return self.masking != "none" and role not in self.exempt_roles

    @property
    def has_effect(self) -> bool:
        return self.masking != "none" or self.access_audit


@dataclass(frozen=True)
class CuratedSchema:
    """A schema of views over source tables, built for the roles allowed to read it."""

    name: str
    description: str
    views: tuple[tuple[str, str], ...]  # (view name, source schema.table)


@dataclass(frozen=True)
class GovernanceConfig:
    role_prefix: str
    roles: tuple[RolePolicy, ...]
    tags: tuple[GovernanceTag, ...]
    curated_schemas: tuple[CuratedSchema, ...]
    self_service_role: str

    def role(self, name: str) -> RolePolicy:
        return next(role for role in self.roles if role.name == name)

    def role_name(self, name: str) -> str:
        """Return the PostgreSQL name of the group role `name`."""
        return f"{self.role_prefix}{name}"

    def with_role_prefix(self, prefix: str) -> GovernanceConfig:
        _check_prefix(prefix, self.roles, "role prefix")
        return replace(self, role_prefix=prefix)

    def tags_for(self, table: str) -> tuple[GovernanceTag, ...]:
        return tuple(tag for tag in self.tags if tag.table == table and tag.has_effect)

    @property
    def governed_tables(self) -> tuple[str, ...]:
        """Tables read only through a view, because a tag masks or audits one of their columns."""
        return tuple(sorted({tag.table for tag in self.tags if tag.has_effect}))

    def curated_readers(self, schema: str) -> tuple[RolePolicy, ...]:
        return tuple(role for role in self.roles if schema in role.allowed_schemas)

    def curated_excluded_columns(self, schema: str) -> frozenset[str]:
        """Columns left out of the views of a curated schema: denied to any role that reads it."""
        return frozenset(column for role in self.curated_readers(schema) for column in role.denied_columns)

    def referenced_tables(self) -> tuple[str, ...]:
        tables = {tag.table for tag in self.tags}
        tables |= {source for schema in self.curated_schemas for _, source in schema.views}
        return tuple(sorted(tables))


def _fail(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


def _check_keys(mapping: object, known: set[str], where: str) -> dict:
    if not isinstance(mapping, dict):
        raise _fail(where, "expected a mapping")
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise _fail(where, f"unknown keys {unknown}; known keys are {sorted(known)}")
    return mapping


def _identifier_list(value: object, where: str, pattern: re.Pattern = _IDENTIFIER) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(where, f"expected a list, got {value!r}")
    for item in value:
        if not isinstance(item, str) or not pattern.match(item):
            raise _fail(where, f"{item!r} is not a lowercase SQL name of the expected form")
    return tuple(value)


def _check_prefix(prefix: object, roles, where: str) -> None:
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigError(f"{where} {prefix!r} must be empty or a lowercase SQL identifier such as 'dev_'")
    for role in roles:
        if len(prefix + role.name) > MAX_IDENTIFIER_LENGTH:
            raise ConfigError(
                f"{where} {prefix!r}: role name {prefix + role.name!r} is longer than "
                f"PostgreSQL's {MAX_IDENTIFIER_LENGTH} characters"
            )


def _parse_limits(data: object, where: str) -> RoleLimits:
    if data is None:
        return RoleLimits()
    _check_keys(data, _LIMIT_KEYS, where)
    values = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _fail(where, f"{key} must be a positive integer, got {value!r}")
        values[key] = value
    return RoleLimits(**values)


def _parse_role(name: object, data: object, where: str) -> RolePolicy:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise _fail(where, f"role name {name!r} is not a lowercase SQL identifier")
    data = _check_keys(data or {}, _ROLE_KEYS, where)
    schemas = _identifier_list(data.get("allowed_schemas"), f"{where}.allowed_schemas")
    for schema in schemas:
        if schema.startswith(GOVERNED_SCHEMA_PREFIX) or schema in (STATE_SCHEMA, "public"):
            raise _fail(
                f"{where}.allowed_schemas",
                f"{schema!r} is not a source or curated schema; governed_* views are granted "
                "automatically for the tables a role reads",
            )
    return RolePolicy(
        name=name,
        description=str(data.get("description") or ""),
        allowed_schemas=schemas,
        denied_tables=_identifier_list(data.get("denied_tables"), f"{where}.denied_tables", _TABLE_PATTERN),
        denied_columns=_identifier_list(data.get("denied_columns"), f"{where}.denied_columns"),
        limits=_parse_limits(data.get("limits"), f"{where}.limits"),
    )


def _parse_role_list(value: object, known_roles: set[str], where: str, allow_all: bool) -> tuple[str, ...]:
    roles = _identifier_list(value, where)
    if allow_all and ALL_ROLES in roles:
        if len(roles) > 1:
            raise _fail(where, f"'{ALL_ROLES}' must be the only entry")
        return roles
    unknown = sorted(set(roles) - known_roles)
    if unknown:
        raise _fail(where, f"unknown roles {unknown}; known roles are {sorted(known_roles)}")
    return roles


def _parse_tag(data: object, known_roles: set[str], where: str) -> GovernanceTag:
    data = _check_keys(data, _TAG_KEYS, where)
    table = data.get("table")
    if not isinstance(table, str) or not _TABLE.match(table):
        raise _fail(where, f"table {table!r} must be a lowercase schema.table name")
    column = data.get("column")
    if not isinstance(column, str) or not _IDENTIFIER.match(column):
        raise _fail(where, f"column {column!r} is not a lowercase SQL identifier")

    classification = data.get("classification")
    if classification not in CLASSIFICATIONS:
        raise _fail(where, f"classification {classification!r} is invalid; use one of {CLASSIFICATIONS}")
    masking = data.get("masking", "none")
    if masking not in MASKING_POLICIES:
        raise _fail(
            where, f"masking {masking!r} is not a known masking policy; use one of {MASKING_POLICIES}"
        )

    applies = _parse_role_list(data.get("applies_to_roles"), known_roles, f"{where}.applies_to_roles", True)
    exempt = _parse_role_list(data.get("exempt_roles"), known_roles, f"{where}.exempt_roles", False)
    if masking == "none" and (applies or exempt):
        raise _fail(
            where, "masking is none, so applies_to_roles and exempt_roles have no effect; remove them"
        )
    if masking != "none" and not applies:
        raise _fail(where, f"masking {masking} needs applies_to_roles (a list of roles, or [all])")
    both = sorted(set(applies) & set(exempt))
    if both:
        raise _fail(where, f"roles {both} are in both applies_to_roles and exempt_roles")

    audit = data.get("access_audit", False)
    if not isinstance(audit, bool):
        raise _fail(where, f"access_audit must be true or false, got {audit!r}")
    return GovernanceTag(
        table=table,
        column=column,
        classification=classification,
        masking=masking,
        applies_to_roles=applies,
        exempt_roles=exempt,
        access_audit=audit,
    )


def _parse_curated(name: object, data: object, where: str) -> CuratedSchema:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise _fail(where, f"schema name {name!r} is not a lowercase SQL identifier")
    if name.startswith(GOVERNED_SCHEMA_PREFIX) or name in RESERVED_SCHEMAS:
        raise _fail(where, f"schema name {name!r} is reserved for the apply step")
    data = _check_keys(data, _CURATED_KEYS, where)
    views = data.get("views")
    if not isinstance(views, dict) or not views:
        raise _fail(where, "views must be a non-empty mapping of view name to schema.table")
    for view, source in views.items():
        if not isinstance(view, str) or not _IDENTIFIER.match(view):
            raise _fail(where, f"view name {view!r} is not a lowercase SQL identifier")
        if not isinstance(source, str) or not _TABLE.match(source):
            raise _fail(where, f"view {view}: source {source!r} must be a lowercase schema.table name")
    return CuratedSchema(
        name=name, description=str(data.get("description") or ""), views=tuple(views.items())
    )


def _readers_of_column(config: GovernanceConfig, table: str, column: str) -> set[str]:
    """Roles that would see `column` of `table`, directly or through a curated view."""
    readers = {
        role.name for role in config.roles if role.can_read(table) and column not in role.denied_columns
    }
    for schema in config.curated_schemas:
        if any(source == table for _, source in schema.views):
            if column not in config.curated_excluded_columns(schema.name):
                readers |= {role.name for role in config.curated_readers(schema.name)}
    return readers


def _check_policies(config: GovernanceConfig, source: Path) -> None:
    seen = set()
    for index, tag in enumerate(config.tags):
        where = f"{source}: governance_tags[{index}]"
        key = (tag.table, tag.column)
        if key in seen:
            raise _fail(where, f"{tag.table}.{tag.column} is tagged twice; keep one tag per column")
        seen.add(key)
        if tag.masking == "none" or ALL_ROLES in tag.applies_to_roles:
            continue
        covered = set(tag.applies_to_roles) | set(tag.exempt_roles)
        uncovered = sorted(_readers_of_column(config, tag.table, tag.column) - covered)
        if uncovered:
            raise _fail(
                where,
                f"roles {uncovered} can read {tag.table}.{tag.column} but are in neither "
                "applies_to_roles nor exempt_roles; add them to one list or deny them the table",
            )

    for schema in config.curated_schemas:
        for view, table in schema.views:
            for role in config.curated_readers(schema.name):
                if role.is_denied(table):
                    raise ConfigError(
                        f"{source}: curated view {schema.name}.{view} reads {table}, which role "
                        f"{role.name} may read through {schema.name} but denies in denied_tables"
                    )


def parse_governance_config(data: object, source: Path) -> GovernanceConfig:
    """Validate the parsed YAML of a governance configuration and return it."""
    data = _check_keys(data, _TOP_LEVEL_KEYS, str(source))
    roles_data = data.get("roles")
    if not isinstance(roles_data, dict) or not roles_data:
        raise ConfigError(f"{source}: 'roles' must be a non-empty mapping of role name to policy")
    roles = tuple(_parse_role(name, policy, f"{source}: roles.{name}") for name, policy in roles_data.items())
    _check_prefix(data.get("role_prefix") or "", roles, f"{source}: role_prefix")
    known_roles = {role.name for role in roles}

    tags_data = data.get("governance_tags") or []
    if not isinstance(tags_data, list):
        raise ConfigError(f"{source}: governance_tags must be a list")
    tags = tuple(
        _parse_tag(tag, known_roles, f"{source}: governance_tags[{index}]")
        for index, tag in enumerate(tags_data)
    )

    curated_data = data.get("curated_schemas") or {}
    if not isinstance(curated_data, dict):
        raise ConfigError(f"{source}: curated_schemas must be a mapping of schema name to views")
    curated = tuple(
        _parse_curated(name, schema, f"{source}: curated_schemas.{name}")
        for name, schema in curated_data.items()
    )

    self_service = _check_keys(data.get("self_service") or {}, {"role"}, f"{source}: self_service")
    self_service_role = self_service.get("role")
    if self_service_role not in known_roles:
        raise ConfigError(
            f"{source}: self_service.role {self_service_role!r} is not a known role; "
            f"known roles are {sorted(known_roles)}"
        )

    config = GovernanceConfig(
        role_prefix=data.get("role_prefix") or "",
        roles=roles,
        tags=tags,
        curated_schemas=curated,
        self_service_role=self_service_role,
    )
    _check_policies(config, source)
    return config


def check_references(config: GovernanceConfig, catalog: Catalog, source: str = "governance.yml") -> None:
    """Raise ConfigError listing every table, column or schema the config names that `catalog` lacks."""
    problems = []
    for tag in config.tags:
        if tag.table not in catalog.tables:
            problems.append(f"governance tag on unknown table {tag.table}")
        elif tag.column not in catalog.columns(tag.table):
            problems.append(
                f"governance tag on unknown column {tag.table}.{tag.column}; "
                f"its columns are {list(catalog.columns(tag.table))}"
            )
    for schema in config.curated_schemas:
        for view, table in schema.views:
            if table not in catalog.tables:
                problems.append(f"curated view {schema.name}.{view} reads unknown table {table}")
    curated_names = {schema.name for schema in config.curated_schemas}
    all_columns = {column.name for columns in catalog.tables.values() for column in columns}
    for role in config.roles:
        for schema in role.allowed_schemas:
            if schema not in catalog.schemas and schema not in curated_names:
                problems.append(f"role {role.name} is allowed unknown schema {schema}")
        for column in role.denied_columns:
            if column not in all_columns:
                problems.append(f"role {role.name} denies column {column}, which no known table has")
    for name in curated_names & catalog.schemas:
        problems.append(f"curated schema {name} is also a source schema of the warehouse; rename it")
    if problems:
        raise ConfigError(f"{source} refers to objects that do not exist:\n- " + "\n- ".join(problems))


@lru_cache(maxsize=4)
def _load_file(path: Path) -> GovernanceConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"Governance configuration not found: {path}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from error
    return parse_governance_config(data, path)


def load_governance_config(path: Path = CONFIG_DIR / "governance.yml") -> GovernanceConfig:
    """Load and validate the governance file; SAAS_METRICS_GOVERNANCE_ROLE_PREFIX overrides role_prefix."""
    config = _load_file(path)
    prefix = os.environ.get(ROLE_PREFIX_ENV)
    if prefix is not None:
        config = config.with_role_prefix(prefix)
    return config
