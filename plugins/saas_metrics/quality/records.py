"""Check records: one per Soda check result or error, with the action the quality gate takes.

Gating follows the threshold level Soda evaluated, never the `severity` attribute, which is for
routing only (the lint keeps the two consistent):

| outcome       | fail-level check | warn-level check |
|---------------|------------------|------------------|
| passed        | pass             | pass             |
| warn          | -                | warn             |
| failed        | block            | -                |
| not_evaluated | block            | warn             |
| excluded      | skip             | skip             |
| error         | block            | block            |

Soda Core 4.28.0 reports a check it could not compute (a query that returned no row or NULL, a
failed query) as NOT_EVALUATED and still counts the contract as OK, which is why a
not-evaluated fail-level check blocks here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from saas_metrics.quality.contracts import ContractFile

OUTCOMES = ("passed", "warn", "failed", "not_evaluated", "excluded", "error")
ACTIONS = ("block", "warn", "pass", "skip")
# Check name of a record that stands for a whole contract: its file, connection or query failed.
CONTRACT_CHECK_NAME = "contract_verification"

_COMPARISONS = (
    ("must_be", "="),
    ("must_not_be", "!="),
    ("must_be_greater_than", ">"),
    ("must_be_greater_than_or_equal", ">="),
    ("must_be_less_than", "<"),
    ("must_be_less_than_or_equal", "<="),
)
_MESSAGE_LENGTH_IN_SUMMARY = 300


@dataclass(frozen=True)
class CheckRecord:
    """The result of one check (or one contract error) and the action the gate takes on it."""

    table_name: str
    contract: str
    check_name: str
    check_type: str | None
    severity: str
    level: str
    outcome: str
    value: Decimal | float | int | None
    threshold: str | None
    message: str

    @property
    def action(self) -> str:
        return action_for(self.outcome, self.level)

    def describe(self) -> str:
        """Return a one-line summary for logs, failure messages and notifications."""
        parts = [f"{self.table_name} / {self.check_name} ({self.severity}): {self.outcome.replace('_', ' ')}"]
        if self.value is not None:
            parts.append(f"value {format_value(self.value)}")
        if self.threshold:
            parts.append(f"threshold {self.threshold}")
        text = "; ".join(parts)
        summary = summarize_message(self.message)
        if summary:
            text += f": {summary[:_MESSAGE_LENGTH_IN_SUMMARY]}"
        return text

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> CheckRecord:
        """Rebuild a record from `as_dict()` output, for example from a gate's XCom."""
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, object]:
        """Return the record as JSON-serialisable values, for XCom."""
        return {
            "table_name": self.table_name,
            "contract": self.contract,
            "check_name": self.check_name,
            "check_type": self.check_type,
            "severity": self.severity,
            "level": self.level,
            "outcome": self.outcome,
            "action": self.action,
            "value": None if self.value is None else float(self.value),
            "threshold": self.threshold,
            "message": self.message,
        }


def action_for(outcome: str, level: str) -> str:
    """Return what the gate does with a result: block, warn, pass or skip (see the module table)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"Unknown check outcome {outcome!r}; expected one of {OUTCOMES}")
    if outcome in ("error", "failed"):
        return "block"
    if outcome == "not_evaluated":
        return "warn" if level == "warn" else "block"
    if outcome == "warn":
        return "warn"
    if outcome == "excluded":
        return "skip"
    return "pass"


def summarize_message(message: str) -> str:
    """Return the line of a message that says what failed.

    Soda writes a failed query as "<what failed>:", the SQL text ending in ":", then the
    database's error, so such a message is summarized by its first line and that error.
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].endswith(":"):
        after_last_header = max(index for index, line in enumerate(lines) if line.endswith(":")) + 1
        if after_last_header < len(lines):
            return f"{lines[0]} {lines[after_last_header]}"
    return lines[0]


def format_value(value: Decimal | float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.6g}"


def error_record(contract: ContractFile, message: str) -> CheckRecord:
    """Return a blocking record for a contract that could not be verified."""
    return CheckRecord(
        table_name=contract.table_name,
        contract=contract.relative_path,
        check_name=CONTRACT_CHECK_NAME,
        check_type=None,
        severity="critical",
        level="fail",
        outcome="error",
        value=None,
        threshold=None,
        message=message,
    )


def records_from_result(result, contract: ContractFile) -> list[CheckRecord]:
    """Turn one Soda ContractVerificationSessionResult into records: its errors first, then its checks."""
    errors = list(dict.fromkeys(result.get_errors()))
    records = [error_record(contract, message) for message in errors]
    for contract_result in result.contract_verification_results:
        records += [_check_record(check_result, contract) for check_result in contract_result.check_results]
    if not records:
        records.append(error_record(contract, "Soda returned no check results and no error for this contract"))
    return records


def _check_record(check_result, contract: ContractFile) -> CheckRecord:
    check = check_result.check
    level = (check.threshold.level if check.threshold else "fail").lower()
    outcome = check_result.outcome.value.lower()
    severity = (check.attributes or {}).get("severity")
    if severity not in ("critical", "warning"):
        severity = "critical" if level == "fail" else "warning"
    return CheckRecord(
        table_name=contract.table_name,
        contract=contract.relative_path,
        check_name=check.name or check.identity,
        check_type=check.type,
        severity=severity,
        level=level,
        outcome=outcome,
        value=check_result.threshold_value,
        threshold=describe_threshold(check, unit=getattr(check_result, "unit", None)),
        message=_outcome_message(outcome),
    )


def describe_threshold(check, unit: str | None = None) -> str | None:
    """Describe a check's passing condition, e.g. 'must be <= 48 hours (fail); must be <= 6 hours (warn)'."""
    parts = []
    for threshold in (check.threshold, check.warn_threshold):
        if threshold is None:
            continue
        bounds = [
            f"{operator} {getattr(threshold, field)}{f' {unit}s' if unit else ''}"
            for field, operator in _COMPARISONS
            if getattr(threshold, field) is not None
        ]
        if bounds:
            parts.append(f"must be {' and '.join(bounds)} ({threshold.level})")
    return "; ".join(parts) or None


def _outcome_message(outcome: str) -> str:
    if outcome == "not_evaluated":
        return "no value was measured (the query returned no row or NULL, or failed)"
    if outcome == "excluded":
        return "left out of this gate"
    return ""
