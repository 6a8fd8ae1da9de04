"""The finance validation stamp of a board report: validated within a tolerance, held, or not validated.

Finance reconciles the metrics engine's ARR with the ARR it reports before a board deck goes
out. The report shows the outcome on every page, and the storage rule in
saas_metrics.reports.board keeps a validated report from being replaced by one that is not.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

VALIDATED = "validated"
HELD = "held"
NOT_VALIDATED = "not_validated"
STATUSES = (VALIDATED, HELD, NOT_VALIDATED)

# Largest relative difference between the engine's ARR and finance's ARR that counts as
# validated when the caller gives no tolerance: 0.5 %.
DEFAULT_TOLERANCE = Decimal("0.005")


class ValidationStampError(ValueError):
    """A validation value could not be read as a stamp; the message names the value."""


@dataclass(frozen=True)
class FinanceValidation:
    """The outcome of finance's ARR reconciliation for one month.

    `difference_ratio` is (engine ARR - finance ARR) / finance ARR. `source` names where the
    stamp came from (a table or "argument"), and `detail` explains a missing or held stamp.
    """

    status: str
    difference_ratio: Decimal | None = None
    tolerance: Decimal | None = None
    source: str = "argument"
    detail: str | None = None
    checked_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValidationStampError(
                f"Invalid validation status {self.status!r}: use one of {', '.join(STATUSES)}"
            )

    @property
    def is_validated(self) -> bool:
        return self.status == VALIDATED

    @property
    def stamp(self) -> str:
        """One line for the report's header, such as "Validated by finance: ARR within 0.12 %"."""
        tolerance = f" (tolerance {_percent(self.tolerance)})" if self.tolerance is not None else ""
        if self.status == VALIDATED:
            if self.difference_ratio is None:
                return f"Validated by finance{tolerance}"
            difference = _percent(abs(self.difference_ratio))
            return f"Validated by finance: ARR within {difference} of finance's ARR{tolerance}"
        if self.status == HELD:
            if self.difference_ratio is None:
                return f"Held by finance: {self.detail or 'reconciliation did not pass'}"
            return f"Held by finance: ARR differs from finance's ARR by {_percent(self.difference_ratio)}{tolerance}"
        return "Not validated by finance" + (f": {self.detail}" if self.detail else "")

    def as_dict(self) -> dict[str, Any]:
        """Return the stamp as JSON-serializable values (XCom, the report's manifest)."""
        return {
            "status": self.status,
            "difference_ratio": None if self.difference_ratio is None else str(self.difference_ratio),
            "tolerance": None if self.tolerance is None else str(self.tolerance),
            "source": self.source,
            "detail": self.detail,
            "checked_at": None if self.checked_at is None else self.checked_at.isoformat(),
            "stamp": self.stamp,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "argument") -> FinanceValidation:
        """Read a stamp written by `as_dict`, or a dict with at least `status`."""
        if "status" not in values:
            raise ValidationStampError(f"Validation {values!r} has no 'status' key")
        checked_at = values.get("checked_at")
        return cls(
            status=str(values["status"]),
            difference_ratio=_decimal(values.get("difference_ratio")),
            tolerance=_decimal(values.get("tolerance")),
            source=str(values.get("source") or source),
            detail=values.get("detail"),
            checked_at=dt.datetime.fromisoformat(checked_at) if isinstance(checked_at, str) else checked_at,
        )


def not_validated(detail: str, *, source: str) -> FinanceValidation:
    return FinanceValidation(status=NOT_VALIDATED, source=source, detail=detail)


def from_difference(
    difference_ratio, *, tolerance=DEFAULT_TOLERANCE, source: str, checked_at: dt.datetime | None = None
) -> FinanceValidation:
    """Stamp a month as validated when |difference_ratio| <= tolerance, otherwise as held."""
    difference = _decimal(difference_ratio)
    tolerance = _decimal(tolerance)
    status = VALIDATED if abs(difference) <= tolerance else HELD
    return FinanceValidation(
        status=status, difference_ratio=difference, tolerance=tolerance, source=source, checked_at=checked_at
    )


def coerce_validation(value: Any) -> FinanceValidation | None:
    """Read a validation given as an argument: a FinanceValidation, a dict, a status string or None.

    A status string is one of STATUSES; "true"/"false" and booleans mean validated or not.
    """
    if value is None or isinstance(value, FinanceValidation):
        return value
    if isinstance(value, dict):
        return FinanceValidation.from_dict(value)
    if isinstance(value, bool):
        return FinanceValidation(status=VALIDATED if value else NOT_VALIDATED)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "_").replace("-", "_")
        if text in ("true", "false"):
            return FinanceValidation(status=VALIDATED if text == "true" else NOT_VALIDATED)
        if text in ("", "none"):
            return None
        return FinanceValidation(status=text)
    raise ValidationStampError(
        f"Invalid validation {value!r} of type {type(value).__name__}: pass a dict with 'status', "
        f"one of {', '.join(STATUSES)}, or None"
    )


def from_record(record: dict[str, Any], *, source: str) -> FinanceValidation:
    """Read the stamp of one row of a table such as analytics.board_deck_latest.

    analytics.board_deck_latest stores the quality gate's outcome of the check
    arr_matches_finance in `finance_validation_outcome` ("passed" is validated, "failed" held,
    anything else not validated) and the ARR difference in `arr_difference_ratio`. For other
    tables, the status is taken from the first column present of `validation_status`,
    `validation_stamp` and `status`, as text: "validated..." and "held..." are read as such,
    any other text as not validated. Without any of these columns, the boolean `is_validated`
    is used. The difference and tolerance come from `difference_ratio` and `tolerance` (or
    `validation_tolerance`) when present.
    """
    difference = _decimal(_first_present(record, "arr_difference_ratio", "difference_ratio"))
    tolerance = _decimal(_first_present(record, "tolerance", "validation_tolerance"))
    checked_at = _first_present(record, "validated_at", "checked_at")
    outcome = record.get("finance_validation_outcome")
    text = _first_present(record, "validation_status", "validation_stamp", "status")
    if outcome is not None:
        status = {"passed": VALIDATED, "failed": HELD}.get(str(outcome).lower(), NOT_VALIDATED)
        detail = None if status == VALIDATED else f"arr_matches_finance outcome {outcome}"
    elif text is not None:
        lowered = str(text).strip().lower()
        if lowered.startswith("validated"):
            status = VALIDATED
        elif lowered.startswith("held"):
            status = HELD
        else:
            status = NOT_VALIDATED
        detail = None if status == VALIDATED else str(text)
    elif record.get("is_validated") is not None:
        status = VALIDATED if record["is_validated"] else NOT_VALIDATED
        detail = None
    else:
        columns = ", ".join(sorted(record))
        return not_validated(f"{source} has no validation stamp column (columns: {columns})", source=source)
    return FinanceValidation(
        status=status,
        difference_ratio=difference,
        tolerance=tolerance,
        source=source,
        detail=detail,
        checked_at=checked_at if isinstance(checked_at, dt.datetime) else None,
    )


def _first_present(record: dict[str, Any], *keys: str):
    return next((record[key] for key in keys if record.get(key) is not None), None)


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


BOARD_DECK_TABLE = "analytics.board_deck_latest"
RECONCILIATION_TABLE = "analytics.arr_reconciliation"
QUALITY_RESULTS_TABLE = "analytics.data_quality_results"
# The first number after "<=" in a threshold the quality gate records, such as
# "must be <= 0.005 (fail)".
_UPPER_BOUND = re.compile(r"<=\s*(-?[0-9.]+)")


def _table_exists(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]


def read_board_deck_validation(conn, month: dt.date) -> FinanceValidation | None:
    """Return the stamp of `month` in analytics.board_deck_latest, or None when there is none.

    None means the table is missing or has no row for the month.
    """
    if not _table_exists(conn, BOARD_DECK_TABLE):
        return None
    cursor = conn.execute(f"select * from {BOARD_DECK_TABLE} where month_start = %s", (month,))
    row = cursor.fetchone()
    if row is None:
        return None
    record = dict(zip([column.name for column in cursor.description], row, strict=True))
    stamp = from_record(record, source=BOARD_DECK_TABLE)
    if stamp.tolerance is None and record.get("validated_by_run_id"):
        stamp = replace(stamp, tolerance=_validation_threshold(conn, record))
    return stamp


def _validation_threshold(conn, record: dict[str, Any]) -> Decimal | None:
    """Return the arr_matches_finance threshold of the run that published the board deck row."""
    if not _table_exists(conn, QUALITY_RESULTS_TABLE):
        return None
    row = conn.execute(
        f"select threshold from {QUALITY_RESULTS_TABLE} "
        "where run_id = %s and table_name = 'analytics.arr_reconciliation' and check_name = 'arr_matches_finance' "
        "order by recorded_at desc limit 1",
        (record["validated_by_run_id"],),
    ).fetchone()
    match = _UPPER_BOUND.search(str(row[0])) if row and row[0] is not None else None
    return Decimal(match.group(1)) if match else None


def read_reconciliation_validation(conn, month: dt.date, *, tolerance=DEFAULT_TOLERANCE) -> FinanceValidation:
    """Stamp `month` from analytics.arr_reconciliation: the engine's ARR against finance's reported ARR."""
    if not _table_exists(conn, RECONCILIATION_TABLE):
        return not_validated(f"{RECONCILIATION_TABLE} does not exist", source=RECONCILIATION_TABLE)
    row = conn.execute(
        f"select has_finance_report, difference_ratio, finance_reported_at from {RECONCILIATION_TABLE} "
        "where month_start = %s",
        (month,),
    ).fetchone()
    if row is None or not row[0]:
        return not_validated(f"finance has not reported ARR for {month:%Y-%m}", source=RECONCILIATION_TABLE)
    if row[1] is None:
        return not_validated(f"no engine ARR to compare for {month:%Y-%m}", source=RECONCILIATION_TABLE)
    return from_difference(row[1], tolerance=tolerance, source=RECONCILIATION_TABLE, checked_at=row[2])
