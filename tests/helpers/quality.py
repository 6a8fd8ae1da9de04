"""Contracts and task contexts for quality gate tests."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from types import SimpleNamespace

INTERVAL_END = dt.datetime(2026, 3, 15, 7, tzinfo=dt.UTC)

ORDERS_TABLE = """
    create schema if not exists analytics;
    create table analytics.orders (id integer, amount numeric, ordered_at timestamptz);
    insert into analytics.orders values
        (1, 10, '2026-03-15 05:00+00'),
        (2, 20, '2026-03-15 06:00+00'),
        (3, null, '2026-03-14 06:00+00');
"""


def write_contract(folder: Path, table: str, checks: str, columns: str = "[]", variables: str = "") -> Path:
    """Write soda_checks-style <schema>/<table>.yml under `folder`; `checks` and `columns` are YAML blocks."""
    schema, name = table.split(".")
    path = folder / schema / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"dataset: warehouse/${{var.database}}/{schema}/{name}\nvariables:\n  database:\n"
    text += textwrap.indent(textwrap.dedent(variables).strip(), "  ") + "\n" if variables.strip() else ""
    text += f"columns: {columns}\n" if columns.strip() == "[]" else "columns:\n" + textwrap.dedent(columns).strip("\n")
    text += "\nchecks:\n" + textwrap.dedent(checks).strip("\n") + "\n"
    path.write_text(text)
    return path


def gate_context(dag_id: str = "quality_test", run_id: str = "manual__test", end: dt.datetime = INTERVAL_END) -> dict:
    """The part of an Airflow task context the quality gate reads."""
    return {
        "dag": SimpleNamespace(dag_id=dag_id),
        "run_id": run_id,
        "data_interval_start": end - dt.timedelta(days=1),
        "data_interval_end": end,
    }
