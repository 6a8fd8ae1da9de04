"""Warehouse governance: roles, masked and audited views, and product-manager self-service.

See docs/governance.md for the model. `config` validates include/config/governance.yml,
`apply` writes it to PostgreSQL, and `self_service` runs the query templates as the
product-manager role.
"""
