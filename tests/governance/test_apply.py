"""The apply step against the real PostgreSQL server: roles, idempotence, pending tables, removal."""

from __future__ import annotations

import hashlib
import logging

import pytest
from psycopg.errors import InsufficientPrivilege

from helpers.governance_warehouse import ROLES, STRIPE_CUSTOMERS_SQL, shipped_config_data
from saas_metrics.config import ConfigError
from saas_metrics.governance.apply import GovernanceApplyError, read_privileges


def _catalog_state(warehouse):
    """Everything the apply step owns, as comparable values."""
    roles = [warehouse.role(role) for role in ROLES]
    logins = [warehouse.login(role) for role in ROLES]
    with warehouse.db.connect() as conn, conn.cursor() as cur:
        privileges = read_privileges(cur, roles)
        views = cur.execute(
            """
            select schemaname, viewname, definition from pg_views
            where schemaname like 'governed\\_%%' or schemaname = 'product_events' order by 1, 2
            """
        ).fetchall()
        role_rows = cur.execute(
            "select rolname, rolcanlogin, rolconnlimit from pg_roles where rolname = any(%s) order by 1",
            (roles + logins,),
        ).fetchall()
        settings = cur.execute(
            """
            select r.rolname, s.setconfig from pg_db_role_setting as s
            inner join pg_roles as r on s.setrole = r.oid
            where r.rolname = any(%s) order by 1
            """,
            (roles + logins,),
        ).fetchall()
    return privileges, views, role_rows, settings


def _setting(warehouse, role):
    rows = warehouse.db.query(
        """
        select s.setconfig from pg_db_role_setting as s
        inner join pg_roles as r on s.setrole = r.oid
        inner join pg_database as d on s.setdatabase = d.oid
        where r.rolname = %s and d.datname = current_database()
        """,
        (role,),
    )
    return rows[0][0] if rows else None


def _connection_limit(warehouse, role):
    return warehouse.db.query("select rolconnlimit from pg_roles where rolname = %s", (role,))[0][0]


def _status(warehouse, table):
    return warehouse.db.query("select status from governance.table_status where table_name = %s", (table,))[
        0
    ][0]


def test_group_roles_cannot_log_in(governed):
    rows = governed.db.query(
        "select rolname, rolcanlogin from pg_roles where rolname = any(%s)",
        ([governed.role(role) for role in ROLES],),
    )
    assert len(rows) == len(ROLES)
    assert not any(can_login for _, can_login in rows)


def test_second_apply_changes_nothing(governed):
    before = _catalog_state(governed)
    report = governed.apply()
    after = _catalog_state(governed)
    assert report.changes == []
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[2] == before[2]
    assert after[3] == before[3]


def test_first_apply_reports_changes(warehouse):
    report = warehouse.apply()
    assert f'create role "{warehouse.role("analyst")}" nologin' in report.changes
    assert any(
        change.startswith('create or replace view "governed_staging"."product_users"')
        for change in report.changes
    )


def test_missing_table_is_pending(warehouse, caplog):
    with caplog.at_level(logging.WARNING, logger="saas_metrics.governance.apply"):
        report = warehouse.apply()
    assert "staging.stripe_customers" in report.pending_tables
    assert _status(warehouse, "staging.stripe_customers") == "pending"
    assert _status(warehouse, "staging.product_users") == "applied"
    assert "Governed table staging.stripe_customers is pending" in caplog.text


def test_pending_table_governed_once_built(warehouse):
    warehouse.apply()
    warehouse.execute(STRIPE_CUSTOMERS_SQL)
    report = warehouse.apply()
    warehouse.create_login("analyst")
    warehouse.create_login("finance_admin")
    query = "select payment_method from governed_staging.stripe_customers where customer_id = 'cus_1'"
    assert report.pending_tables == {}
    assert _status(warehouse, "staging.stripe_customers") == "applied"
    assert warehouse.query_as(warehouse.login("analyst"), query) == [("[redacted]",)]
    assert warehouse.query_as(warehouse.login("finance_admin"), query) == [("pm_card_visa",)]


def test_pending_table_readable_by_nobody(warehouse):
    warehouse.apply()
    warehouse.execute(STRIPE_CUSTOMERS_SQL)
    login = warehouse.create_login("analyst")
    with pytest.raises(InsufficientPrivilege, match="permission denied for table stripe_customers"):
        warehouse.query_as(login, "select * from staging.stripe_customers")


def test_removed_tag_removes_masking(governed):
    data = shipped_config_data()
    data["governance_tags"] = [tag for tag in data["governance_tags"] if tag["column"] != "email"]
    governed.apply(data)
    login = governed.login("analyst")
    emails = governed.query_as(login, "select email from staging.product_users where user_id = 'u1'")
    assert emails == [("ann@acme.io",)]
    assert governed.db.query("select to_regclass('governed_staging.product_users')") == [(None,)]


def test_removed_tag_reapplied_masks_again(governed):
    data = shipped_config_data()
    data["governance_tags"] = [tag for tag in data["governance_tags"] if tag["column"] != "email"]
    governed.apply(data)
    governed.apply()
    login = governed.login("analyst")
    with pytest.raises(InsufficientPrivilege, match="permission denied for table product_users"):
        governed.query_as(login, "select email from staging.product_users")


def test_removed_audit_tag_stops_logging(governed):
    data = shipped_config_data()
    data["governance_tags"] = [
        tag for tag in data["governance_tags"] if tag["table"] != "analytics.customer_mrr_monthly"
    ]
    governed.apply(data)
    governed.query_as(governed.login("analyst"), "select sum(mrr) from analytics.customer_mrr_monthly")
    assert governed.db.query("select count(*) from audit.column_access_log") == [(0,)]


def test_limits_land_in_catalog(governed):
    manager, member = governed.role("product_manager"), governed.login("product_manager")
    assert _setting(governed, manager) == ["statement_timeout=120s"]
    assert _setting(governed, member) == ["statement_timeout=120s"]
    assert _connection_limit(governed, manager) == 3
    assert _connection_limit(governed, member) == 3


def test_unlimited_role_has_no_limits(governed):
    assert _setting(governed, governed.login("analyst")) is None
    assert _connection_limit(governed, governed.login("analyst")) == -1


def test_member_leaving_group_loses_limits(governed):
    member = governed.login("product_manager")
    governed.execute(f'revoke "{governed.role("product_manager")}" from "{member}"')
    governed.apply()
    assert _setting(governed, member) is None
    assert _connection_limit(governed, member) == -1


def test_hand_set_limit_kept(governed):
    member = governed.login("product_manager")
    governed.execute(f'alter role "{member}" connection limit 1')
    governed.execute(f'revoke "{governed.role("product_manager")}" from "{member}"')
    governed.apply()
    assert _connection_limit(governed, member) == 1


def test_removed_limit_resets_roles(governed):
    data = shipped_config_data()
    del data["roles"]["product_manager"]["limits"]["max_runtime_seconds"]
    governed.apply(data)
    assert _setting(governed, governed.role("product_manager")) is None
    assert _setting(governed, governed.login("product_manager")) is None


def test_dry_run_changes_nothing(warehouse):
    report = warehouse.apply(dry_run=True)
    roles = warehouse.db.query(
        "select count(*) from pg_roles where starts_with(rolname, %s)", (warehouse.prefix,)
    )
    assert report.changes
    assert roles == [(0,)]


def test_hand_granted_privilege_revoked(governed):
    governed.execute(f'grant select on raw_stripe.customers to "{governed.role("product_manager")}"')
    report = governed.apply()
    assert len(report.changes) == 1
    with pytest.raises(InsufficientPrivilege, match="permission denied"):
        governed.query_as(governed.login("product_manager"), "select * from raw_stripe.customers")


def test_public_grant_on_governed_table_revoked(governed):
    governed.execute("grant select on staging.product_users to public")
    governed.apply()
    with pytest.raises(InsufficientPrivilege, match="permission denied for table product_users"):
        governed.query_as(governed.login("analyst"), "select email from staging.product_users")


def test_membership_of_group_revoked(governed):
    governed.execute(f'grant pg_read_all_data to "{governed.role("analyst")}"')
    governed.apply()
    rows = governed.db.query(
        "select count(*) from pg_auth_members where member = to_regrole(%s)", (governed.role("analyst"),)
    )
    assert rows == [(0,)]


def test_unmanaged_role_rejected(warehouse):
    warehouse.execute(f'create role "{warehouse.role("analyst")}" login')
    with pytest.raises(GovernanceApplyError, match="not managed by governance"):
        warehouse.apply()


def test_unmanaged_role_left_unchanged(warehouse):
    warehouse.execute(f'create role "{warehouse.role("analyst")}" login')
    with pytest.raises(GovernanceApplyError):
        warehouse.apply()
    assert warehouse.db.query(
        "select count(*) from pg_roles where starts_with(rolname, %s)", (warehouse.prefix,)
    ) == [(1,)]


def test_removed_role_loses_privileges(governed):
    data = shipped_config_data()
    del data["roles"]["compliance"]
    for tag in data["governance_tags"]:
        if "compliance" in tag.get("exempt_roles", []):
            tag["exempt_roles"].remove("compliance")
    report = governed.apply(data)
    with governed.db.connect() as conn, conn.cursor() as cur:
        remaining = read_privileges(cur, [governed.role("compliance")])
    assert remaining == set()
    assert any("no longer in governance.yml" in warning for warning in report.warnings)


def test_live_column_missing_rejected(warehouse):
    warehouse.execute("alter table staging.product_users drop column email")
    with pytest.raises(ConfigError, match="unknown column staging.product_users.email"):
        warehouse.apply()


def test_model_shape_change_recreates_view(governed):
    governed.execute("drop table staging.product_users cascade")
    governed.execute(
        "create table staging.product_users (user_id text, email text, full_name text, ip_address text)"
    )
    governed.execute("insert into staging.product_users values ('u9', 'new@x.io', 'New', '10.0.0.9')")
    governed.apply()
    rows = governed.query_as(
        governed.login("admin"), "select user_id, email from governed_staging.product_users"
    )
    assert rows == [("u9", "new@x.io")]


def _make_writer(warehouse) -> str:
    """A non-superuser that owns the source tables, like the Airflow connection's user in production."""
    writer = f"{warehouse.prefix}writer"
    tables = warehouse.db.query(
        "select format('%I.%I', schemaname, tablename) from pg_tables "
        "where schemaname in ('staging', 'analytics', 'core', 'raw_stripe', 'raw_salesforce')"
    )
    statements = [
        f'create role "{writer}" login createrole',
        f'grant create on database "{warehouse.db.name}" to "{writer}"',
    ]
    statements += [
        f'alter schema {schema} owner to "{writer}"' for schema in ("staging", "analytics", "core")
    ]
    statements += [
        f'alter schema {schema} owner to "{writer}"' for schema in ("raw_stripe", "raw_salesforce")
    ]
    statements += [f'alter table {table} owner to "{writer}"' for (table,) in tables]
    warehouse.execute(";\n".join(statements))
    return writer


def _apply_as(warehouse, login):
    from saas_metrics.governance.apply import apply_governance
    from saas_metrics.governance.catalog import load_declared_catalog

    with warehouse.connect_as(login) as conn:
        return apply_governance(conn, warehouse.config(), declared=load_declared_catalog())


def test_non_superuser_applier(warehouse):
    writer = _make_writer(warehouse)
    _apply_as(warehouse, writer)
    login = warehouse.create_login("analyst")
    rows = warehouse.query_as(login, "select email from governed_staging.product_users where user_id = 'u1'")
    assert rows == [(hashlib.sha256(b"ann@acme.io").hexdigest(),)]
    assert _apply_as(warehouse, writer).changes == []


def test_non_superuser_applier_sets_role(warehouse):
    writer = _make_writer(warehouse)
    _apply_as(warehouse, writer)
    with warehouse.connect_as(writer) as conn:
        conn.execute(f'set role "{warehouse.role("product_manager")}"')
        count = conn.execute("select count(*) from product_events.users").fetchone()
    assert count == (4,)


def test_non_superuser_applier_skips_foreign_member(warehouse):
    writer = _make_writer(warehouse)
    _apply_as(warehouse, writer)
    member = warehouse.create_login("product_manager")
    report = _apply_as(warehouse, writer)
    assert any(f"Limits of login role {member} were not set" in warning for warning in report.warnings)
    assert _connection_limit(warehouse, member) == -1
