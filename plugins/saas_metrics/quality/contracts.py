"""Contract files: their location, the table each one covers, and the variables the gate passes them.

A contract's path under soda_checks/ mirrors its table: soda_checks/analytics/mrr_monthly.yml
covers analytics.mrr_monthly and names it `warehouse/${var.database}/analytics/mrr_monthly`.
The lint enforces that mirror, so a table name can always be derived from the path, even for a
file that does not parse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from saas_metrics.paths import SODA_DIR
from saas_metrics.periods import closed_month_start, open_month_start

# Name of the Soda data source in every contract's `dataset:`. It is a logical name: the gate
# builds the data source from whichever Airflow connection it is given.
DATA_SOURCE_NAME = "warehouse"

# Every variable the gate passes. A contract declares the ones it uses under `variables:`.
GATE_VARIABLES = (
    "database",
    "data_interval_start",
    "data_interval_end",
    "reporting_time_zone",
    "open_month_start",
    "closed_month_start",
    "recompute_from",
    "extracted_since",
)
# The recompute_from of a gate that is given no plan: every month is checked.
EVERY_MONTH = "-infinity"
# The extracted_since of a gate that is given no plan: every raw row is checked.
EVERY_ROW = "-infinity"


@dataclass(frozen=True)
class ContractFile:
    """One contract file and the table it covers."""

    path: Path
    relative_path: str
    table_name: str


def contract_file(path: Path, root: Path = SODA_DIR) -> ContractFile:
    """Describe the contract at `path`, or raise ValueError when it is not at <schema>/<table>.yml under `root`."""
    path = path.resolve()
    try:
        relative = path.relative_to(root.resolve())
    except ValueError as error:
        raise ValueError(f"Contract {path} is not under the contracts folder {root}") from error
    if len(relative.parts) != 2 or relative.suffix != ".yml":
        raise ValueError(f"Contract {relative} must be at <schema>/<table>.yml under {root}")
    return ContractFile(path=path, relative_path=relative.as_posix(), table_name=f"{relative.parts[0]}.{relative.stem}")


def find_contracts(patterns: Iterable[str] = ("*/*.yml",), root: Path = SODA_DIR) -> list[ContractFile]:
    """Return the contracts matching any of the glob `patterns` under `root`, sorted by path.

    Raises FileNotFoundError when a pattern matches nothing, so that a misspelled contract path
    fails the gate instead of silently checking less.
    """
    found: dict[Path, ContractFile] = {}
    for pattern in patterns:
        matches = sorted(root.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"No contract matches {pattern!r} under {root}")
        for match in matches:
            found[match] = contract_file(match, root)
    return [found[path] for path in sorted(found)]


def gate_variables(
    *,
    database: str,
    data_interval_start: dt.datetime,
    data_interval_end: dt.datetime,
    reporting_time_zone: str,
    recompute_from: str = EVERY_MONTH,
    extracted_since: str = EVERY_ROW,
) -> dict[str, str]:
    """Return the value of every variable in GATE_VARIABLES for one run, as Soda expects: strings.

    `recompute_from` is the first month the run rewrote (the daily run's plan). A contract of a
    table written by month may check only the rows from that month on, because the rows of
    earlier months are those an earlier gate checked. `extracted_since` is the default for the
    contracts of raw tables that the gate is given no instant for (see the quality gate's
    extracted_since_by_table). Such a contract checks only the rows extracted after it.
    """
    return {
        "database": database,
        "data_interval_start": data_interval_start.isoformat(),
        "data_interval_end": data_interval_end.isoformat(),
        "reporting_time_zone": reporting_time_zone,
        "open_month_start": open_month_start(data_interval_end, reporting_time_zone).isoformat(),
        "closed_month_start": closed_month_start(data_interval_end, reporting_time_zone).isoformat(),
        "recompute_from": recompute_from,
        "extracted_since": extracted_since,
    }
