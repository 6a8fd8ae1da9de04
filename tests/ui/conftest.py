"""Fixtures for tests of the metrics page: the Airflow API app over a copy of the demo warehouse."""

from helpers.demo_warehouse import demo_template  # noqa: F401
from helpers.metrics_app import metrics_app  # noqa: F401
