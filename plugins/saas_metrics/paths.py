"""Locations of the project folders, resolved once from this file's position.

The project root is the folder that holds dags/, plugins/, sql/ and include/. In an image
that copies those folders elsewhere, set SAAS_METRICS_HOME to the folder that holds them.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("SAAS_METRICS_HOME") or Path(__file__).resolve().parents[2])
DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
SQL_DIR = PROJECT_ROOT / "sql"
SODA_DIR = PROJECT_ROOT / "soda_checks"
CONFIG_DIR = PROJECT_ROOT / "include" / "config"

# Local state that is never committed: embedded PostgreSQL data, Airflow home, demo outputs.
LOCAL_DIR = Path(os.environ.get("SAAS_METRICS_LOCAL_DIR") or PROJECT_ROOT / ".local")
OUTPUT_DIR = Path(os.environ.get("SAAS_METRICS_OUTPUT_DIR") or PROJECT_ROOT / "output")
