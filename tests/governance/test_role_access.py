"""Log in to the real PostgreSQL server as a member of each role and try what it may and may not do."""

from __future__ import annotations

import hashlib

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege, QueryCanceled, ReadOnlySqlTransaction, UndefinedColumn

from helpers.governance_warehouse import shipped_config_data

USER_EMAIL = "select email from governed_staging.product_users where user_id = 'u1'"
PAYMENT_METHOD = "select payment_method from governed_staging.stripe_customers where customer_id = 'cus_1'"


def _audit_rows(governed):
    return governed.db.query(
        "select login_user, active_role, table_name, column_name from audit.column_access_log"
    )


@pytest.mark.parametrize(
    "query",
    [
        "select * from raw_stripe.customers",
        "select * from raw_salesforce.opportunities",
        "select * from staging.product_users",
        "select * from staging.stripe_customers",
        "select * from governed_staging.stripe_customers",
        "select * from analytics.customer_mrr_monthly",
        "select * from audit.column_access_log",
    ],
)
def test_manager_denied_table(governed, query):
    with pytest.raises(InsufficientPrivilege):
        governed.query_as(governed.login("product_manager"), query)


@pytest.mark.parametrize("column", ["email", "ip_address", "full_name"])
def test_manager_denied_column(governed, column):
    with pytest.raises(UndefinedColumn):
        governed.query_as(governed.login("product_manager"), f"select {column} from product_events.users")


def test_manager_reads_product_views(governed):
    login = governed.login("product_manager")
    users = governed.query_as(
        login, "select user_id, workspace_id, role from product_events.users order by 1"
    )
    events = governed.query_as(login, "select count(*) from product_events.events")
    assert users[0] == ("u1", "w1", "admin")
    assert events == [(19,)]


def test_manager_reads_analytics(governed):
    rows = governed.query_as(governed.login("product_manager"), "select mrr from analytics.mrr_monthly")
    assert rows == [(170,)]


def test_analyst_sees_hashed_email(governed):
    rows = governed.query_as(governed.login("analyst"), USER_EMAIL)
    assert rows == [(hashlib.sha256(b"ann@acme.io").hexdigest(),)]


@pytest.mark.parametrize("role", ["admin", "compliance"])
def test_exempt_role_sees_email(governed, role):
    assert governed.query_as(governed.login(role), USER_EMAIL) == [("ann@acme.io",)]


def test_superuser_sees_email(governed):
    assert governed.db.query(USER_EMAIL) == [("ann@acme.io",)]


def test_analyst_denied_base_table(governed):
    with pytest.raises(InsufficientPrivilege, match="permission denied for table product_users"):
        governed.query_as(governed.login("analyst"), "select email from staging.product_users")


@pytest.mark.parametrize("role", ["admin", "compliance", "analyst"])
def test_payment_method_redacted(governed, role):
    assert governed.query_as(governed.login(role), PAYMENT_METHOD) == [("[redacted]",)]


def test_redacted_null_stays_null(governed):
    query = "select payment_method from governed_staging.stripe_customers where customer_id = 'cus_2'"
    assert governed.query_as(governed.login("analyst"), query) == [(None,)]


def test_finance_admin_sees_payment_method(governed):
    assert governed.query_as(governed.login("finance_admin"), PAYMENT_METHOD) == [("pm_card_visa",)]


def test_finance_admin_denied_product_users(governed):
    with pytest.raises(InsufficientPrivilege):
        governed.query_as(governed.login("finance_admin"), "select * from governed_staging.product_users")


def test_admin_denied_raw_stripe(governed):
    with pytest.raises(InsufficientPrivilege):
        governed.query_as(governed.login("admin"), "select * from raw_stripe.customers")


def test_redacted_number_is_null(governed):
    data = shipped_config_data()
    data["governance_tags"].append(
        {
            "table": "staging.stripe_customers",
            "column": "card_last4",
            "classification": "PCI",
            "masking": "redact",
            "applies_to_roles": ["all"],
            "exempt_roles": ["finance_admin"],
        }
    )
    governed.apply(data)
    query = "select card_last4 from governed_staging.stripe_customers where customer_id = 'cus_1'"
    assert governed.query_as(governed.login("analyst"), query) == [(None,)]
    assert governed.query_as(governed.login("finance_admin"), query) == [(4242,)]


def test_masked_filter_cannot_probe_email(governed):
    """A filter on the masked column compares against the hash, not the address."""
    query = "select count(*) from governed_staging.product_users where email = 'ann@acme.io'"
    assert governed.query_as(governed.login("analyst"), query) == [(0,)]


def test_audited_read_logged(governed):
    login = governed.login("analyst")
    governed.query_as(login, "select sum(mrr) from governed_analytics.customer_mrr_monthly")
    assert _audit_rows(governed) == [(login, None, "analytics.customer_mrr_monthly", "mrr")]


def test_audited_column_logged_once(governed):
    query = "select mrr from governed_analytics.customer_mrr_monthly where mrr > 0 order by mrr"
    governed.query_as(governed.login("analyst"), query)
    assert len(_audit_rows(governed)) == 1


def test_other_columns_not_logged(governed):
    governed.query_as(
        governed.login("analyst"), "select customer_id from governed_analytics.customer_mrr_monthly"
    )
    assert _audit_rows(governed) == []


def test_audit_records_set_role(governed):
    with governed.db.connect() as conn:
        conn.execute(f'set role "{governed.role("product_manager")}"')
        conn.execute("select mrr_change from governed_analytics.customer_mrr_monthly").fetchall()
        conn.commit()
    assert _audit_rows(governed) == [
        ("postgres", governed.role("product_manager"), "analytics.customer_mrr_monthly", "mrr_change")
    ]


def test_read_only_transaction_cannot_skip_audit(governed):
    with governed.connect_as(governed.login("analyst")) as conn:
        conn.execute("set transaction read only")
        with pytest.raises(ReadOnlySqlTransaction):
            conn.execute("select mrr from governed_analytics.customer_mrr_monthly").fetchall()


@pytest.mark.parametrize(
    "statement",
    [
        "insert into audit.column_access_log (login_user, table_name, column_name, backend_pid, "
        "statement_started_at) values ('x', 'y', 'z', 1, now())",
        "delete from audit.column_access_log",
        "select audit.write_column_read('analytics.customer_mrr_monthly', 'mrr')",
    ],
    ids=["insert", "delete", "write function"],
)
def test_audit_log_not_writable(governed, statement):
    with pytest.raises(InsufficientPrivilege):
        governed.query_as(governed.login("compliance"), statement)


def test_compliance_reads_audit_log(governed):
    governed.query_as(governed.login("analyst"), "select mrr from governed_analytics.customer_mrr_monthly")
    rows = governed.query_as(governed.login("compliance"), "select login_user from audit.column_access_log")
    assert rows == [(governed.login("analyst"),)]


def test_runtime_limit_cancels_query(governed):
    data = shipped_config_data()
    data["roles"]["product_manager"]["limits"]["max_runtime_seconds"] = 1
    governed.apply(data)
    with pytest.raises(QueryCanceled, match="statement timeout"):
        governed.query_as(governed.login("product_manager"), "select pg_sleep(3)")


def test_session_gets_configured_timeout(governed):
    rows = governed.query_as(governed.login("product_manager"), "show statement_timeout")
    assert rows == [("2min",)]


def test_fourth_session_rejected(governed):
    login = governed.login("product_manager")
    sessions = [governed.connect_as(login) for _ in range(3)]
    try:
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            governed.connect_as(login)
    finally:
        for session in sessions:
            session.close()


def test_other_role_has_no_session_limit(governed):
    login = governed.login("analyst")
    sessions = [governed.connect_as(login) for _ in range(4)]
    for session in sessions:
        session.close()
    assert len(sessions) == 4
