"""Deterministic demo data for a CloudFlow-like B2B SaaS company, in Airbyte's raw landing format.

    from include.demo_data import generate, load, DemoDataset
    dataset = generate(seed=42, scale=1.0, history_start=date(2024, 12, 1),
                       until=datetime(2026, 12, 4, 7, tzinfo=UTC))
    counts = load(conn, dataset)            # psycopg 3 connection; rows per table
    dataset.write_finance_files(folder)     # finance_arr.csv and fx_rates.csv

docs/demo-data.md describes the tables, the defects planted on purpose and measured timings.
"""

from include.demo_data.dataset import DemoDataset
from include.demo_data.generator import generate
from include.demo_data.loader import load

__all__ = ["DemoDataset", "generate", "load"]
