"""Validation of include/config/governance.yml, against the declared table list as in CI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.governance_warehouse import shipped_config_data
from saas_metrics.config import ConfigError
from saas_metrics.governance.catalog import load_declared_catalog
from saas_metrics.governance.config import check_references, load_governance_config, parse_governance_config

SOURCE = Path("governance.yml")
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def _parse(data):
    return parse_governance_config(data, SOURCE)


def _tag(data, table, column):
    return next(tag for tag in data["governance_tags"] if tag["table"] == table and tag["column"] == column)


def test_shipped_config_matches_declared_tables():
    check_references(load_governance_config(), load_declared_catalog())


def test_shipped_defaults():
    config = load_governance_config()
    email = next(tag for tag in config.tags if tag.column == "email")
    payment = next(tag for tag in config.tags if tag.column == "payment_method")
    manager = config.role("product_manager")
    assert email.masking == "hash_sha256"
    assert set(email.applies_to_roles) == {"analyst", "product_manager"}
    assert set(email.exempt_roles) == {"admin", "compliance"}
    assert payment.masking == "redact"
    assert payment.exempt_roles == ("finance_admin",)
    assert manager.allowed_schemas == ("analytics", "product_events")
    assert manager.limits.max_runtime_seconds == 120
    assert manager.limits.max_concurrent_queries == 3
    assert manager.limits.max_scan_rows == 100_000_000
    assert {"email", "payment_method", "ip_address"} <= set(manager.denied_columns)


@pytest.mark.parametrize(
    ("table", "denied"),
    [
        ("raw_stripe.customers", True),
        ("raw_salesforce.opportunities", True),
        ("staging.stripe_customers", True),
        ("staging.salesforce_accounts", True),
        ("analytics.mrr_monthly", False),
    ],
)
def test_manager_denied_tables(table, denied):
    assert load_governance_config().role("product_manager").is_denied(table) is denied


def test_role_prefix_env_overrides(monkeypatch):
    monkeypatch.setenv("SAAS_METRICS_GOVERNANCE_ROLE_PREFIX", "dev_")
    assert load_governance_config().role_name("analyst") == "dev_analyst"


def test_unknown_table_rejected():
    data = shipped_config_data()
    data["governance_tags"][0]["table"] = "staging.product_user"
    with pytest.raises(ConfigError, match="unknown table staging.product_user$"):
        check_references(_parse(data), load_declared_catalog())


def test_unknown_column_rejected():
    data = shipped_config_data()
    _tag(data, "staging.product_users", "email")["column"] = "e_mail"
    with pytest.raises(ConfigError, match=re.escape("unknown column staging.product_users.e_mail")):
        check_references(_parse(data), load_declared_catalog())


def test_unknown_schema_rejected():
    data = shipped_config_data()
    data["roles"]["analyst"]["allowed_schemas"].append("marketing")
    with pytest.raises(ConfigError, match="allowed unknown schema marketing"):
        check_references(_parse(data), load_declared_catalog())


def test_unknown_denied_column_rejected():
    data = shipped_config_data()
    data["roles"]["product_manager"]["denied_columns"].append("passport_number")
    with pytest.raises(ConfigError, match="denies column passport_number, which no known table has"):
        check_references(_parse(data), load_declared_catalog())


def test_all_unknown_references_listed():
    data = shipped_config_data()
    _tag(data, "staging.product_users", "email")["column"] = "e_mail"
    data["curated_schemas"]["product_events"]["views"]["sessions"] = "staging.product_sessions"
    with pytest.raises(ConfigError) as raised:
        check_references(_parse(data), load_declared_catalog())
    assert "e_mail" in str(raised.value)
    assert "staging.product_sessions" in str(raised.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda data: _tag(data, "staging.product_users", "email")["applies_to_roles"].append("pm"),
            "unknown roles",
        ),
        (
            lambda data: _tag(data, "staging.product_users", "email").update(masking="tokenize"),
            "masking policy",
        ),
        (
            lambda data: _tag(data, "staging.product_users", "email").update(classification="SECRET"),
            "classification",
        ),
        (lambda data: data["roles"]["analyst"].update(limits={"max_runtime_seconds": 0}), "positive integer"),
        (lambda data: data["roles"]["analyst"].update(can_write=True), "unknown keys"),
        (lambda data: data.update(self_service={"role": "pm"}), "self_service.role 'pm'"),
        (lambda data: data.update(role_prefix="Dev-"), "role_prefix"),
        (lambda data: data.update(role_prefix="x" * 60), "longer than"),
        (lambda data: data["roles"]["analyst"].update(allowed_schemas=["governed_staging"]), "not a source"),
        (lambda data: data["curated_schemas"].update(governed_x={"views": {"a": "staging.b"}}), "reserved"),
    ],
    ids=[
        "unknown role",
        "unknown masking",
        "unknown classification",
        "zero limit",
        "unknown role key",
        "unknown self-service role",
        "invalid prefix",
        "long role name",
        "governed schema allowed",
        "reserved curated name",
    ],
)
def test_invalid_config_rejected(change, message):
    data = shipped_config_data()
    change(data)
    with pytest.raises(ConfigError, match=re.escape(message)):
        _parse(data)


def test_role_in_both_lists_rejected():
    data = shipped_config_data()
    _tag(data, "staging.product_users", "email")["exempt_roles"].append("analyst")
    with pytest.raises(ConfigError, match=re.escape("['analyst'] are in both")):
        _parse(data)


def test_uncovered_reader_rejected():
    data = shipped_config_data()
    data["roles"]["finance_admin"]["denied_tables"] = []
    with pytest.raises(
        ConfigError, match=re.escape("roles ['finance_admin'] can read staging.product_users.email")
    ):
        _parse(data)


def test_duplicate_tag_rejected():
    data = shipped_config_data()
    data["governance_tags"].append(dict(_tag(data, "staging.product_users", "email")))
    with pytest.raises(ConfigError, match="tagged twice"):
        _parse(data)


def test_curated_source_denied_rejected():
    data = shipped_config_data()
    data["curated_schemas"]["product_events"]["views"]["customers"] = "staging.stripe_customers"
    with pytest.raises(ConfigError, match="denies in denied_tables"):
        _parse(data)


def test_curated_view_leaves_out_denied_columns():
    config = load_governance_config()
    excluded = config.curated_excluded_columns("product_events")
    assert {"email", "ip_address", "full_name"} <= excluded


@pytest.mark.parametrize(
    "table",
    [
        table
        for table in load_declared_catalog().tables
        if (SQL_DIR / f"{table.replace('.', '/')}.sql").exists()
    ],
)
def test_declared_columns_appear_in_model(table):
    """Catch drift between warehouse_tables.yml and the model that builds the table."""
    model = (SQL_DIR / f"{table.replace('.', '/')}.sql").read_text()
    missing = [
        column for column in load_declared_catalog().columns(table) if not re.search(rf"\b{column}\b", model)
    ]
    assert missing == []
