"""Apply the governance configuration to PostgreSQL in one transaction, idempotently.

The apply step compares the plan (saas_metrics.governance.plan) with the catalog and issues
only the difference, so a second apply with the same configuration and tables changes nothing.
It owns, and rewrites on every run:

- the group roles of governance.yml (NOLOGIN, no special attributes, members of no role);
- every table, column, schema and routine privilege those roles hold, outside pg_catalog and
  information_schema: privileges the plan does not contain are revoked;
- the schemas it created (governed_* and curated schemas, marked by their comment) and the
  views in them;
- the connection limit and statement_timeout of the group roles and of the login roles that are
  their members (see `_apply_member_limits`);
- PUBLIC privileges on governed tables, which are revoked.

Nothing is applied when any step fails: the transaction is rolled back and the warehouse keeps
the previous state.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from saas_metrics.governance.catalog import MANAGED_SCHEMA_COMMENT, SYSTEM_SCHEMAS, Catalog, read_live_catalog
from saas_metrics.governance.config import GovernanceConfig, RoleLimits, check_references
from saas_metrics.governance.plan import Plan, Privilege, build_plan
from saas_metrics.paths import SQL_DIR

log = logging.getLogger(__name__)

SETUP_SQL = SQL_DIR / "governance" / "setup.sql"
SETUP_SCHEMAS = ("governance", "audit")
# Key of the advisory lock that serializes concurrent applies on one database.
APPLY_LOCK_KEY = 7_305_146_321
MANAGED_ROLE_COMMENT = "Managed by warehouse governance"
_PRIVILEGE_KEYWORD = re.compile(r"^[A-Z]+$")


class GovernanceApplyError(RuntimeError):
    """The configuration could not be applied; the transaction was rolled back."""


@dataclass
class ApplyReport:
    changes: list[str] = field(default_factory=list)
    pending_tables: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> dict:
        return {
            "changes": len(self.changes),
            "statements": self.changes,
            "pending_tables": sorted(self.pending_tables),
            "warnings": self.warnings,
            "dry_run": self.dry_run,
        }


class _Changes:
    """Executes the statements that change the catalog and records each one in the report."""

    def __init__(self, cur, report: ApplyReport) -> None:
        self._cur = cur
        self._report = report

    def execute(self, statement: sql.Composable) -> None:
        text = statement.as_string(self._cur)
        self._cur.execute(statement)
        self._report.changes.append(text)
        log.info("Applied: %s", text.splitlines()[0] + (" ..." if "\n" in text else ""))


def role_comment(config: GovernanceConfig, description: str) -> str:
    return f"{_role_comment_marker(config.role_prefix)} {description}".rstrip()


def _role_comment_marker(prefix: str) -> str:
    return f"{MANAGED_ROLE_COMMENT} (role prefix '{prefix}'):"


def apply_governance(
    conn: psycopg.Connection,
    config: GovernanceConfig,
    *,
    declared: Catalog,
    dry_run: bool = False,
) -> ApplyReport:
    """Apply `config` through `conn` and return what changed.

    Switches `conn` to autocommit so that the apply is exactly one explicit transaction. With
    `dry_run`, everything is executed and reported, then rolled back.
    """
    report = ApplyReport(dry_run=dry_run)
    conn.autocommit = True
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(%s)", (APPLY_LOCK_KEY,))
            # Every name below is schema-qualified; routine names read back from the catalog are
            # then qualified too.
            cur.execute("set local search_path = pg_catalog, pg_temp")
            changes = _Changes(cur, report)
            _apply_setup(cur, report)

            live = read_live_catalog(cur)
            check_references(config, live.merged_over(declared))
            plan = build_plan(config, live, declared)
            report.pending_tables = dict(plan.pending_tables)
            for table, reason in sorted(plan.pending_tables.items()):
                log.warning("Governed table %s is pending: %s", table, reason)

            removed_roles = _apply_roles(cur, config, changes, report)
            _let_applier_set_self_service_role(cur, config, changes)
            _apply_views(cur, plan, changes)
            _revoke_public_on_governed(cur, config, live, changes)
            _apply_privileges(
                cur, plan, [config.role_name(role.name) for role in config.roles] + removed_roles, changes
            )
            database = cur.execute("select current_database()").fetchone()[0]
            _apply_group_limits(cur, config, removed_roles, database, changes)
            _apply_member_limits(cur, config, database, changes, report)
            _record_table_status(cur, plan)
            if dry_run:
                raise psycopg.Rollback()
    except psycopg.Error as error:
        raise GovernanceApplyError(f"Applying governance failed and was rolled back: {error}") from error
    log.info(
        "Governance %s: %d changes, %d pending tables",
        "dry run" if dry_run else "applied",
        len(report.changes),
        len(report.pending_tables),
    )
    return report


# Setup -------------------------------------------------------------------------------------------

_SETUP_FINGERPRINT_SQL = """
    select 'schema ' || n.nspname
    from pg_namespace as n
    where n.nspname = any(%(schemas)s)
    union all
    select 'relation ' || n.nspname || '.' || c.relname || ' ' || md5(string_agg(
        a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum
    ))
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    inner join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where n.nspname = any(%(schemas)s)
    group by n.nspname, c.relname
    union all
    select 'routine ' || n.nspname || '.' || p.proname || ' '
        || md5(pg_get_functiondef(p.oid) || coalesce(p.proacl::text, ''))
    from pg_proc as p
    inner join pg_namespace as n on p.pronamespace = n.oid
    where n.nspname = any(%(schemas)s)
"""


def _setup_fingerprint(cur) -> set[str]:
    return {row[0] for row in cur.execute(_SETUP_FINGERPRINT_SQL, {"schemas": list(SETUP_SCHEMAS)})}


def _apply_setup(cur, report: ApplyReport) -> None:
    """Run sql/governance/setup.sql; report the objects it created or changed."""
    before = _setup_fingerprint(cur)
    cur.execute(SETUP_SQL.read_text())
    for entry in sorted(_setup_fingerprint(cur) - before):
        report.changes.append(
            f"setup: {entry.rsplit(' ', 1)[0] if entry.startswith(('relation', 'routine')) else entry}"
        )
        log.info("Applied setup: %s", entry)


# Roles -------------------------------------------------------------------------------------------


def _apply_roles(cur, config: GovernanceConfig, changes: _Changes, report: ApplyReport) -> list[str]:
    """Create or correct the group roles; return managed roles that are no longer configured."""
    marker = _role_comment_marker(config.role_prefix)
    configured = {config.role_name(role.name): role for role in config.roles}
    rows = cur.execute(
        """
        select
            r.rolname,
            r.rolcanlogin or r.rolsuper or r.rolcreatedb or r.rolcreaterole or r.rolreplication
                or r.rolbypassrls as has_attributes,
            coalesce(shobj_description(r.oid, 'pg_authid'), '') as role_comment
        from pg_roles as r
        where r.rolname = any(%(names)s)
            or starts_with(coalesce(shobj_description(r.oid, 'pg_authid'), ''), %(marker)s)
        """,
        {"names": list(configured), "marker": marker},
    ).fetchall()
    existing = {name: (has_attributes, comment) for name, has_attributes, comment in rows}

    for name, role in configured.items():
        identifier = sql.Identifier(name)
        comment = role_comment(config, role.description)
        if name not in existing:
            changes.execute(sql.SQL("create role {} nologin").format(identifier))
            changes.execute(sql.SQL("comment on role {} is {}").format(identifier, sql.Literal(comment)))
            continue
        has_attributes, current_comment = existing[name]
        if not current_comment.startswith(MANAGED_ROLE_COMMENT):
            raise GovernanceApplyError(
                f"Role {name} already exists and is not managed by governance (its comment does not start "
                f"with '{MANAGED_ROLE_COMMENT}'). Set another role_prefix in governance.yml, or adopt the "
                f"role with: comment on role {name} is '{comment}'"
            )
        if has_attributes:
            changes.execute(
                sql.SQL(
                    "alter role {} nologin nosuperuser nocreatedb nocreaterole noreplication nobypassrls"
                ).format(identifier)
            )
        if current_comment != comment:
            changes.execute(sql.SQL("comment on role {} is {}").format(identifier, sql.Literal(comment)))

    managed = list(configured) + [name for name in existing if name not in configured]
    memberships = cur.execute(
        """
        select g.rolname, m.rolname
        from pg_auth_members as am
        inner join pg_roles as g on am.roleid = g.oid
        inner join pg_roles as m on am.member = m.oid
        where m.rolname = any(%(managed)s)
        order by 1, 2
        """,
        {"managed": managed},
    ).fetchall()
    for group, member in memberships:
        # Membership in another role (pg_read_all_data, another group) would bypass the plan.
        changes.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(group), sql.Identifier(member)))

    removed = sorted(
        name for name in existing if name not in configured and existing[name][1].startswith(marker)
    )
    for name in removed:
        message = (
            f"Role {name} is no longer in governance.yml: its privileges and limits were removed, "
            "but the role and its members were kept; drop it by hand when it is no longer needed"
        )
        report.warnings.append(message)
        log.warning(message)
    return removed


def _let_applier_set_self_service_role(cur, config: GovernanceConfig, changes: _Changes) -> None:
    """Let the connection's user SET ROLE to the self-service role, as the template runner does.

    Superusers need nothing. Other users get membership WITH INHERIT FALSE, so that they do not
    gain the role's privileges outside SET ROLE, and they are never given its limits.
    """
    role = config.role_name(config.self_service_role)
    can_set = cur.execute(
        "select rolsuper or pg_has_role(current_user, %s, 'SET') from pg_roles where rolname = current_user",
        (role,),
    ).fetchone()[0]
    if not can_set:
        changes.execute(
            sql.SQL("grant {} to current_user with inherit false, set true").format(sql.Identifier(role))
        )


# Schemas and views ---------------------------------------------------------------------------------


def _apply_views(cur, plan: Plan, changes: _Changes) -> None:
    schema_rows = cur.execute(
        """
        select n.nspname, coalesce(obj_description(n.oid, 'pg_namespace'), '')
        from pg_namespace as n
        where n.nspname = any(%(planned)s)
            or starts_with(coalesce(obj_description(n.oid, 'pg_namespace'), ''), %(marker)s)
        """,
        {"planned": list(plan.managed_schemas), "marker": MANAGED_SCHEMA_COMMENT},
    ).fetchall()
    existing_schemas = dict(schema_rows)
    managed_existing = [name for name, comment in schema_rows if comment.startswith(MANAGED_SCHEMA_COMMENT)]
    view_rows = cur.execute(
        """
        select n.nspname, c.relname, coalesce(obj_description(c.oid, 'pg_class'), '')
        from pg_class as c
        inner join pg_namespace as n on c.relnamespace = n.oid
        where c.relkind = 'v' and n.nspname = any(%(schemas)s)
        """,
        {"schemas": managed_existing},
    ).fetchall()
    existing_views = {(schema, name): comment for schema, name, comment in view_rows}

    for schema, description in sorted(plan.managed_schemas.items()):
        comment = f"{MANAGED_SCHEMA_COMMENT}: {description}"
        identifier = sql.Identifier(schema)
        if schema not in existing_schemas:
            changes.execute(sql.SQL("create schema {}").format(identifier))
        elif schema not in managed_existing:
            raise GovernanceApplyError(
                f"Schema {schema} exists and was not created by governance; rename the curated schema in "
                "governance.yml or move that schema's objects elsewhere"
            )
        if existing_schemas.get(schema) != comment:
            changes.execute(sql.SQL("comment on schema {} is {}").format(identifier, sql.Literal(comment)))

    for view in plan.views:
        comment = f"{MANAGED_SCHEMA_COMMENT}: view of {view.source}, fingerprint {view.fingerprint()}"
        key = (view.schema, view.name)
        if existing_views.get(key) == comment:
            continue
        identifier = sql.Identifier(view.schema, view.name)
        if key in existing_views:
            try:
                with cur.connection.transaction():
                    changes.execute(view.create_statement())
            except psycopg.errors.InvalidTableDefinition:
                # create or replace cannot drop, rename or retype columns; the privileges that the
                # drop removes are granted again by the privilege step.
                changes.execute(sql.SQL("drop view {}").format(identifier))
                changes.execute(view.create_statement())
        else:
            changes.execute(view.create_statement())
        changes.execute(sql.SQL("comment on view {} is {}").format(identifier, sql.Literal(comment)))

    planned_views = {(view.schema, view.name) for view in plan.views}
    for schema, name in sorted(set(existing_views) - planned_views):
        changes.execute(sql.SQL("drop view {}").format(sql.Identifier(schema, name)))
    for schema in sorted(set(managed_existing) - set(plan.managed_schemas)):
        changes.execute(sql.SQL("drop schema {}").format(sql.Identifier(schema)))


def _revoke_public_on_governed(cur, config: GovernanceConfig, live: Catalog, changes: _Changes) -> None:
    """Revoke PUBLIC's privileges on governed tables, which would bypass their views."""
    tables = [table for table in config.governed_tables if table in live.tables]
    rows = cur.execute(
        """
        select distinct n.nspname, c.relname
        from pg_class as c
        inner join pg_namespace as n on c.relnamespace = n.oid
        cross join lateral aclexplode(c.relacl) as acl
        where acl.grantee = 0 and n.nspname || '.' || c.relname = any(%(tables)s)
        order by 1, 2
        """,
        {"tables": tables},
    ).fetchall()
    for schema, name in rows:
        changes.execute(sql.SQL("revoke all on table {} from public").format(sql.Identifier(schema, name)))


# Privileges --------------------------------------------------------------------------------------

_PRIVILEGES_SQL = """
    select
        case c.relkind when 'S' then 'sequence' else 'table' end,
        n.nspname,
        c.relname,
        '',
        acl.privilege_type,
        r.rolname
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    cross join lateral aclexplode(c.relacl) as acl
    inner join pg_roles as r on acl.grantee = r.oid
    where r.rolname = any(%(roles)s) and n.nspname <> all(%(system)s)
    union all
    select 'column', n.nspname, c.relname, a.attname, acl.privilege_type, r.rolname
    from pg_attribute as a
    inner join pg_class as c on a.attrelid = c.oid
    inner join pg_namespace as n on c.relnamespace = n.oid
    cross join lateral aclexplode(a.attacl) as acl
    inner join pg_roles as r on acl.grantee = r.oid
    where r.rolname = any(%(roles)s) and n.nspname <> all(%(system)s) and not a.attisdropped
    union all
    select 'schema', n.nspname, '', '', acl.privilege_type, r.rolname
    from pg_namespace as n
    cross join lateral aclexplode(n.nspacl) as acl
    inner join pg_roles as r on acl.grantee = r.oid
    where r.rolname = any(%(roles)s) and n.nspname <> all(%(system)s)
    union all
    select 'routine', n.nspname, p.proname, oidvectortypes(p.proargtypes), acl.privilege_type, r.rolname
    from pg_proc as p
    inner join pg_namespace as n on p.pronamespace = n.oid
    cross join lateral aclexplode(p.proacl) as acl
    inner join pg_roles as r on acl.grantee = r.oid
    where r.rolname = any(%(roles)s) and n.nspname <> all(%(system)s)
"""


def read_privileges(cur, roles: list[str]) -> set[Privilege]:
    """Return every table, column, schema and routine privilege that `roles` hold in this database."""
    rows = cur.execute(_PRIVILEGES_SQL, {"roles": roles, "system": list(SYSTEM_SCHEMAS)}).fetchall()
    return {Privilege(*row) for row in rows}


def privilege_statement(action: str, privilege: Privilege) -> sql.Composed:
    """Build the GRANT or REVOKE statement for one privilege."""
    if not _PRIVILEGE_KEYWORD.match(privilege.privilege):
        raise ValueError(f"Unexpected privilege name {privilege.privilege!r}")
    keyword: sql.Composable = sql.SQL(privilege.privilege.lower())
    if privilege.kind == "schema":
        target = sql.SQL("schema {}").format(sql.Identifier(privilege.schema))
    elif privilege.kind == "sequence":
        target = sql.SQL("sequence {}").format(sql.Identifier(privilege.schema, privilege.name))
    elif privilege.kind == "routine":
        # The argument list comes from oidvectortypes(), i.e. type names as PostgreSQL prints them.
        target = sql.SQL("routine {}({})").format(
            sql.Identifier(privilege.schema, privilege.name), sql.SQL(privilege.detail)
        )
    else:
        target = sql.SQL("table {}").format(sql.Identifier(privilege.schema, privilege.name))
        if privilege.kind == "column":
            keyword = sql.SQL("{} ({})").format(keyword, sql.Identifier(privilege.detail))
    direction = "to" if action == "grant" else "from"
    return sql.SQL("{} {} on {} {} {}").format(
        sql.SQL(action), keyword, target, sql.SQL(direction), sql.Identifier(privilege.role)
    )


def _apply_privileges(cur, plan: Plan, roles: list[str], changes: _Changes) -> None:
    for privilege in sorted(read_privileges(cur, roles) - plan.privileges):
        changes.execute(privilege_statement("revoke", privilege))
    # Read again: revoking a table privilege also revokes that privilege on each of its columns.
    for privilege in sorted(plan.privileges - read_privileges(cur, roles)):
        changes.execute(privilege_statement("grant", privilege))

    actual = read_privileges(cur, roles)
    if actual != plan.privileges:
        differences = sorted(actual ^ plan.privileges)[:10]
        raise GovernanceApplyError(
            "Privileges of the governed roles still differ from governance.yml after applying, "
            "usually because another role granted them (revoke those as their grantor): "
            + "; ".join(f"{'extra' if item in actual else 'missing'} {item}" for item in differences)
        )


# Limits ------------------------------------------------------------------------------------------


def _statement_timeout(cur, role: str, database: str) -> str | None:
    row = cur.execute(
        """
        select s.setconfig
        from pg_db_role_setting as s
        inner join pg_roles as r on s.setrole = r.oid
        inner join pg_database as d on s.setdatabase = d.oid
        where r.rolname = %(role)s and d.datname = %(database)s
        """,
        {"role": role, "database": database},
    ).fetchone()
    for setting in (row[0] if row else None) or []:
        name, _, value = setting.partition("=")
        if name == "statement_timeout":
            return value
    return None


def _connection_limit(cur, role: str) -> int | None:
    row = cur.execute("select rolconnlimit from pg_roles where rolname = %s", (role,)).fetchone()
    return row[0] if row else None


def _set_connection_limit(cur, role: str, limit: int | None, changes: _Changes) -> None:
    target = limit if limit is not None else -1
    if _connection_limit(cur, role) != target:
        changes.execute(
            sql.SQL("alter role {} connection limit {}").format(sql.Identifier(role), sql.Literal(target))
        )


def _set_statement_timeout(cur, role: str, database: str, seconds: int | None, changes: _Changes) -> None:
    """Make the role's statement_timeout in `database` `seconds`, or remove it for None."""
    target = _seconds(seconds)
    if _statement_timeout(cur, role, database) == target:
        return
    if target is None:
        statement = sql.SQL("alter role {} in database {} reset statement_timeout")
        changes.execute(statement.format(sql.Identifier(role), sql.Identifier(database)))
    else:
        statement = sql.SQL("alter role {} in database {} set statement_timeout = {}")
        changes.execute(statement.format(sql.Identifier(role), sql.Identifier(database), sql.Literal(target)))


def _apply_group_limits(
    cur, config: GovernanceConfig, removed_roles: list[str], database: str, changes: _Changes
) -> None:
    """Record each group role's limits on the role itself; they take effect through its members."""
    for role in config.roles:
        name = config.role_name(role.name)
        _set_connection_limit(cur, name, role.limits.max_concurrent_queries, changes)
        _set_statement_timeout(cur, name, database, role.limits.max_runtime_seconds, changes)
    for name in removed_roles:
        _set_connection_limit(cur, name, None, changes)
        _set_statement_timeout(cur, name, database, None, changes)


def _member_limits(cur, config: GovernanceConfig) -> dict[str, RoleLimits]:
    """The strictest limits of each login role that is a direct or indirect member of a limited group."""
    limited = {
        config.role_name(role.name): role.limits
        for role in config.roles
        if role.limits.max_runtime_seconds or role.limits.max_concurrent_queries
    }
    rows = cur.execute(
        """
        with recursive members (member_oid, group_name) as (
            select am.member, g.rolname
            from pg_auth_members as am
            inner join pg_roles as g on am.roleid = g.oid
            where g.rolname = any(%(groups)s)
            union
            select am.member, members.group_name
            from pg_auth_members as am
            inner join members on am.roleid = members.member_oid
        )
        select r.rolname, members.group_name
        from members
        inner join pg_roles as r on members.member_oid = r.oid
        where r.rolcanlogin and not r.rolsuper and r.rolname <> current_user
        """,
        {"groups": list(limited)},
    ).fetchall()
    strictest: dict[str, RoleLimits] = {}
    for member, group in rows:
        limits = limited[group]
        current = strictest.get(member, RoleLimits())
        strictest[member] = RoleLimits(
            max_runtime_seconds=_min_defined(current.max_runtime_seconds, limits.max_runtime_seconds),
            max_concurrent_queries=_min_defined(
                current.max_concurrent_queries, limits.max_concurrent_queries
            ),
        )
    return strictest


def _min_defined(first: int | None, second: int | None) -> int | None:
    values = [value for value in (first, second) if value is not None]
    return min(values) if values else None


def _can_alter_role(cur, role: str) -> bool:
    """Whether the connection's user may ALTER `role`: superuser, or CREATEROLE with ADMIN OPTION on it."""
    return cur.execute(
        """
        select r.rolsuper or (r.rolcreaterole and pg_has_role(current_user, %s, 'MEMBER WITH ADMIN OPTION'))
        from pg_roles as r
        where r.rolname = current_user
        """,
        (role,),
    ).fetchone()[0]


def _apply_member_limits(
    cur, config: GovernanceConfig, database: str, changes: _Changes, report: ApplyReport
) -> None:
    """Set the group limits on the members' login roles, where PostgreSQL enforces them.

    PostgreSQL applies a role's CONNECTION LIMIT and its ALTER ROLE ... SET values only to
    sessions that log in as that role; members of a NOLOGIN group role do not inherit them. So
    each member gets the strictest limits of its limited groups. Limits that a member no longer
    needs (it left the group, or the limit was removed) are reset, unless someone changed them
    since the apply step set them. A member the connection's user may not alter is skipped with
    a warning, so that one such member does not block the rest of the apply.
    """
    expected = _member_limits(cur, config)
    recorded = {
        member: (timeout, limit)
        for member, timeout, limit in cur.execute(
            "select member_name, statement_timeout_seconds, connection_limit from governance.member_limits"
        )
    }
    existing = {
        name
        for (name,) in cur.execute("select rolname from pg_roles where rolname = any(%s)", (list(recorded),))
    }

    for member in sorted(set(recorded) | set(expected)):
        if member not in expected:
            cur.execute("delete from governance.member_limits where member_name = %s", (member,))
            if member not in existing:
                continue
        if not _can_alter_role(cur, member):
            message = (
                f"Limits of login role {member} were not set: the governance user may not alter it. "
                f"Grant that user ADMIN OPTION on {member} (with CREATEROLE), or apply as a superuser"
            )
            report.warnings.append(message)
            log.warning(message)
            continue
        limits = expected.get(member, RoleLimits())
        recorded_timeout, recorded_limit = recorded.get(member, (None, None))

        # Without a configured limit, only undo what this step set: a value someone changed since
        # (or set before governance managed the member) is left as it is.
        if limits.max_runtime_seconds is not None:
            _set_statement_timeout(cur, member, database, limits.max_runtime_seconds, changes)
        elif _statement_timeout(cur, member, database) == _seconds(recorded_timeout) and recorded_timeout:
            _set_statement_timeout(cur, member, database, None, changes)
        if limits.max_concurrent_queries is not None:
            _set_connection_limit(cur, member, limits.max_concurrent_queries, changes)
        elif recorded_limit is not None and _connection_limit(cur, member) == recorded_limit:
            _set_connection_limit(cur, member, None, changes)

        if member in expected:
            cur.execute(
                """
                insert into governance.member_limits as m
                    (member_name, statement_timeout_seconds, connection_limit, applied_at)
                values (%s, %s, %s, now())
                on conflict (member_name) do update
                set statement_timeout_seconds = excluded.statement_timeout_seconds,
                    connection_limit = excluded.connection_limit,
                    applied_at = case
                        when (m.statement_timeout_seconds, m.connection_limit)
                            is distinct from (excluded.statement_timeout_seconds, excluded.connection_limit)
                            then excluded.applied_at
                        else m.applied_at
                    end
                """,
                (member, limits.max_runtime_seconds, limits.max_concurrent_queries),
            )


def _seconds(value: int | None) -> str | None:
    return f"{value}s" if value is not None else None


# Status ------------------------------------------------------------------------------------------


def _record_table_status(cur, plan: Plan) -> None:
    rows = [(table, "applied", None) for table in plan.applied_tables]
    rows += [(table, "pending", reason) for table, reason in sorted(plan.pending_tables.items())]
    for table, status, detail in rows:
        cur.execute(
            """
            insert into governance.table_status as s (table_name, status, detail, status_since, checked_at)
            values (%s, %s, %s, now(), now())
            on conflict (table_name) do update
            set status = excluded.status,
                detail = excluded.detail,
                status_since = case
                    when s.status = excluded.status then s.status_since else excluded.status_since
                end,
                checked_at = excluded.checked_at
            """,
            (table, status, detail),
        )
    cur.execute(
        "delete from governance.table_status where table_name <> all(%s)", ([table for table, _, _ in rows],)
    )


# Airflow entry point -----------------------------------------------------------------------------


def apply_with_connection(conn_id: str, *, dry_run: bool = False) -> dict:
    """Apply include/config/governance.yml through an Airflow connection; return the report summary.

    An invalid configuration fails the task without retries, because a retry cannot fix it.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk.exceptions import AirflowFailException

    from saas_metrics.config import ConfigError
    from saas_metrics.governance.catalog import load_declared_catalog
    from saas_metrics.governance.config import load_governance_config

    try:
        config = load_governance_config()
        declared = load_declared_catalog()
        with PostgresHook(postgres_conn_id=conn_id).get_conn() as conn:
            report = apply_governance(conn, config, declared=declared, dry_run=dry_run)
    except ConfigError as error:
        message = f"Invalid governance configuration, nothing was applied: {error}"
        raise AirflowFailException(message) from error
    return report.summary()
