"""sqlfluff, with the project's .sqlfluff, passes on every model and rejects a bad one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _sqlfluff_lint(*paths: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", "--processes", "2", "--disable-progress-bar", *paths],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )


def test_sql_models_pass_sqlfluff():
    result = _sqlfluff_lint("sql")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sqlfluff_flags_uppercase_keywords(tmp_path):
    model = PROJECT_ROOT / "sql" / "staging" / "_lint_probe.sql"
    model.write_text("SELECT 1 AS x\n")
    try:
        result = _sqlfluff_lint(str(model.relative_to(PROJECT_ROOT)))
    finally:
        model.unlink()
    assert result.returncode != 0
    assert "CP01" in result.stdout
