"""Fixtures for governance tests: a warehouse with source tables, roles applied, login users."""

from __future__ import annotations

import pytest

from helpers.governance_warehouse import (
    PRODUCT_SQL,
    ROLES,
    STRIPE_CUSTOMERS_SQL,
    GovernedWarehouse,
    drop_test_roles,
)


@pytest.fixture
def warehouse(warehouse_db):
    """Source tables without staging.stripe_customers, nothing applied yet."""
    handle = GovernedWarehouse(warehouse_db)
    handle.execute(PRODUCT_SQL)
    try:
        yield handle
    finally:
        drop_test_roles(warehouse_db, handle.prefix)


@pytest.fixture
def governed(warehouse):
    """All source tables, the shipped configuration applied, and one login user per role."""
    warehouse.execute(STRIPE_CUSTOMERS_SQL)
    warehouse.apply()
    for role in ROLES:
        warehouse.create_login(role)
    # The second apply sets the members' limits.
    warehouse.apply()
    return warehouse
