"""Fixtures for board report tests: a copy of the demo warehouse per test."""

from helpers.demo_warehouse import demo_db, demo_template  # noqa: F401
