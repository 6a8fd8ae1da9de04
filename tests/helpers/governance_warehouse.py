"""A test warehouse for governance: hand-made source tables, the role prefix, login users.

Roles are global to the PostgreSQL cluster while every test has its own database, so each
test's roles get the prefix "<database name>_" and are dropped when the test ends.
"""

from __future__ import annotations

import copy
from pathlib import Path

import psycopg
import yaml

from saas_metrics.governance.apply import apply_governance
from saas_metrics.governance.catalog import load_declared_catalog
from saas_metrics.governance.config import parse_governance_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOVERNANCE_FILE = PROJECT_ROOT / "include" / "config" / "governance.yml"
ROLES = ("admin", "compliance", "finance_admin", "analyst", "product_manager")

PRODUCT_SQL = """
create schema if not exists staging;
create schema if not exists analytics;
create schema if not exists core;
create schema if not exists raw_stripe;
create schema if not exists raw_salesforce;

create table staging.product_workspaces (
    workspace_id text, workspace_name text, customer_id text, plan_tier text, country text,
    created_at timestamptz, updated_at timestamptz, is_local_time_converted boolean
);
insert into staging.product_workspaces values
    ('w1', 'Acme', 'cus_1', 'pro', 'US', '2026-01-01', '2026-01-01', false),
    ('w2', 'Globex', 'cus_2', 'free', 'DE', '2026-02-01', '2026-02-01', false);

create table staging.product_users (
    user_id text, workspace_id text, email text, full_name text, role text, ip_address text,
    created_at timestamptz, last_seen_at timestamptz, is_local_time_converted boolean
);
insert into staging.product_users values
    ('u1', 'w1', 'ann@acme.io', 'Ann Lee', 'admin', '10.0.0.1', '2026-01-05 10:00Z', '2026-03-31', false),
    ('u2', 'w1', 'bob@acme.io', 'Bob Ray', 'member', '10.0.0.2', '2026-01-20 10:00Z', '2026-03-31', false),
    ('u3', 'w2', 'cy@globex.io', 'Cy Doe', 'member', '10.0.0.3', '2026-02-03 08:00Z', '2026-03-31', false),
    ('u4', 'w2', 'di@globex.io', 'Di Fox', 'member', '10.0.0.4', '2026-02-10 08:00Z', '2026-03-31', false);

create table staging.product_events (
    event_id text, workspace_id text, user_id text, event_name text, properties jsonb,
    occurred_at timestamptz, is_local_time_converted boolean
);
insert into staging.product_events values
    -- feature adoption: u1 after 2 days, u2 after 54 days (outside a 30-day window), u3 after 10
    ('e01', 'w1', 'u1', 'report_exported', '{}', '2026-01-07 10:00Z', false),
    ('e02', 'w1', 'u2', 'report_exported', '{}', '2026-03-15 10:00Z', false),
    ('e03', 'w2', 'u3', 'report_exported', '{}', '2026-02-13 08:00Z', false),
    -- funnel: u1 completes it, u2 stops after step 1 (step 2 too late), u3 after step 2
    ('e10', 'w1', 'u1', 'signup_completed', '{}', '2026-03-02 09:00Z', false),
    ('e11', 'w1', 'u1', 'workspace_created', '{}', '2026-03-02 10:00Z', false),
    ('e12', 'w1', 'u1', 'teammate_invited', '{}', '2026-03-03 09:00Z', false),
    ('e13', 'w1', 'u2', 'signup_completed', '{}', '2026-03-05 09:00Z', false),
    ('e14', 'w1', 'u2', 'workspace_created', '{}', '2026-03-20 09:00Z', false),
    ('e15', 'w2', 'u3', 'teammate_invited', '{}', '2026-03-10 08:00Z', false),
    ('e16', 'w2', 'u3', 'signup_completed', '{}', '2026-03-10 09:00Z', false),
    ('e17', 'w2', 'u3', 'workspace_created', '{}', '2026-03-11 09:00Z', false),
    ('e18', 'w2', 'u4', 'workspace_created', '{}', '2026-03-12 09:00Z', false),
    ('e19', 'w2', null, 'signup_completed', '{}', '2026-03-12 09:00Z', false),
    -- A/B test: u1 and u2 in control, u3 in treatment, u4 in both (left out)
    ('e20', 'w1', 'u1', 'experiment_assigned', '{"experiment_id": "onboarding_v2", "variant": "control"}',
        '2026-03-01 08:00Z', false),
    ('e21', 'w1', 'u2', 'experiment_assigned', '{"experiment_id": "onboarding_v2", "variant": "control"}',
        '2026-03-01 08:00Z', false),
    ('e22', 'w2', 'u3', 'experiment_assigned', '{"experiment_id": "onboarding_v2", "variant": "treatment"}',
        '2026-03-01 08:00Z', false),
    ('e23', 'w2', 'u4', 'experiment_assigned', '{"experiment_id": "onboarding_v2", "variant": "treatment"}',
        '2026-03-01 08:00Z', false),
    ('e24', 'w2', 'u4', 'experiment_assigned', '{"experiment_id": "onboarding_v2", "variant": "control"}',
        '2026-03-02 08:00Z', false),
    ('e25', 'w2', 'u4', 'teammate_invited', '{}', '2026-03-03 08:00Z', false);

create table analytics.customer_mrr_monthly (
    month_start date, currency_basis text, currency text, customer_id text, mrr numeric,
    previous_mrr numeric, mrr_change numeric, movement text, cohort_month date,
    is_provisional boolean, snapshot_at timestamptz, as_of timestamptz
);
insert into analytics.customer_mrr_monthly values
    ('2026-03-01', 'reporting', 'usd', 'cus_1', 120, 100, 20, 'expansion', '2026-01-01', false, null, null),
    ('2026-03-01', 'reporting', 'usd', 'cus_2', 50, 0, 50, 'new', '2026-03-01', false, null, null);

create table analytics.mrr_monthly (month_start date, mrr numeric, paying_customers integer);
insert into analytics.mrr_monthly values ('2026-03-01', 170, 2);

create table raw_stripe.customers (id text, invoice_settings jsonb);
insert into raw_stripe.customers values ('cus_1', '{"default_payment_method": "pm_card_visa"}');

create table raw_salesforce.opportunities (id text, amount numeric);
insert into raw_salesforce.opportunities values ('opp_1', 1000);

analyze;
"""

STRIPE_CUSTOMERS_SQL = """
create table staging.stripe_customers (
    customer_id text, currency text, payment_method text, card_last4 integer
);
insert into staging.stripe_customers values
    ('cus_1', 'usd', 'pm_card_visa', 4242),
    ('cus_2', 'eur', null, null);
analyze staging.stripe_customers;
"""


def shipped_config_data() -> dict:
    """The parsed YAML of include/config/governance.yml, as a fresh copy a test may change."""
    return copy.deepcopy(yaml.safe_load(GOVERNANCE_FILE.read_text()))


class GovernedWarehouse:
    """A test database with source tables, the role prefix of this test, and helpers."""

    def __init__(self, db) -> None:
        self.db = db
        self.prefix = f"{db.name}_"

    def config(self, data: dict | None = None):
        parsed = parse_governance_config(data or shipped_config_data(), GOVERNANCE_FILE)
        return parsed.with_role_prefix(self.prefix)

    def apply(self, data: dict | None = None, *, dry_run: bool = False):
        with self.db.connect() as conn:
            config = self.config(data)
            return apply_governance(conn, config, declared=load_declared_catalog(), dry_run=dry_run)

    def execute(self, statements: str) -> None:
        with self.db.connect(autocommit=True) as conn:
            conn.execute(statements)

    def role(self, role: str) -> str:
        return f"{self.prefix}{role}"

    def login(self, role: str) -> str:
        """The login user that is a member of the group role `role`."""
        return f"{self.prefix}{role}_user"

    def create_login(self, role: str) -> str:
        name = self.login(role)
        self.execute(f'create role "{name}" login in role "{self.role(role)}"')
        return name

    def connect_as(self, login: str, **kwargs) -> psycopg.Connection:
        return psycopg.connect(**{**self.db.server.conninfo(self.db.name), "user": login}, **kwargs)

    def query_as(self, login: str, query: str, params=None) -> list[tuple]:
        with self.connect_as(login) as conn:
            return conn.execute(query, params).fetchall()


def drop_test_roles(db, prefix: str) -> None:
    with psycopg.connect(**db.server.conninfo(db.name), autocommit=True) as conn:
        rows = conn.execute("select rolname from pg_roles where starts_with(rolname, %s)", (prefix,))
        roles = [name for (name,) in rows]
        if not roles:
            return
        sessions = "select pg_terminate_backend(pid) from pg_stat_activity where usename = any(%s)"
        conn.execute(sessions, (roles,))
        quoted = ", ".join(f'"{role}"' for role in roles)
        conn.execute(f"drop owned by {quoted}")
        for role in roles:
            conn.execute(f'drop role "{role}"')
