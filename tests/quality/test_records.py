"""Check records: the action for each outcome and level, and how a record reads."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from saas_metrics.quality.records import CheckRecord, action_for, describe_threshold, summarize_message


@pytest.mark.parametrize(
    ("outcome", "level", "action"),
    [
        ("passed", "fail", "pass"),
        ("passed", "warn", "pass"),
        ("warn", "warn", "warn"),
        ("warn", "fail", "warn"),
        ("failed", "fail", "block"),
        ("not_evaluated", "fail", "block"),
        ("not_evaluated", "warn", "warn"),
        ("excluded", "fail", "skip"),
        ("error", "fail", "block"),
        ("error", "warn", "block"),
    ],
)
def test_action_for_outcome_and_level(outcome, level, action):
    assert action_for(outcome, level) == action


def test_unknown_outcome_raises():
    with pytest.raises(ValueError, match="Unknown check outcome 'skipped'"):
        action_for("skipped", "fail")


def _threshold(level, **bounds):
    fields = (
        "must_be",
        "must_not_be",
        "must_be_greater_than",
        "must_be_greater_than_or_equal",
        "must_be_less_than",
        "must_be_less_than_or_equal",
    )
    return SimpleNamespace(level=level, **{field: bounds.get(field) for field in fields})


def test_two_level_threshold_description():
    check = SimpleNamespace(
        threshold=_threshold("fail", must_be_less_than_or_equal=48),
        warn_threshold=_threshold("warn", must_be_less_than_or_equal=6),
    )
    assert describe_threshold(check, unit="hour") == "must be <= 48 hours (fail); must be <= 6 hours (warn)"


def test_range_threshold_description():
    check = SimpleNamespace(
        threshold=_threshold("fail", must_be_greater_than_or_equal=0, must_be_less_than=1), warn_threshold=None
    )
    assert describe_threshold(check) == "must be >= 0 and < 1 (fail)"


RECORD = CheckRecord(
    table_name="analytics.mrr_monthly",
    contract="analytics/mrr_monthly.yml",
    check_name="mrr_continuity",
    check_type="metric",
    severity="critical",
    level="fail",
    outcome="failed",
    value=Decimal("0.15384615384615385"),
    threshold="must be <= 0.1 (fail)",
    message="",
)


def test_record_describes_value_and_threshold():
    assert RECORD.describe() == (
        "analytics.mrr_monthly / mrr_continuity (critical): failed; value 0.153846; threshold must be <= 0.1 (fail)"
    )


def test_record_round_trips_through_dict():
    restored = CheckRecord.from_dict(RECORD.as_dict())
    assert restored.describe() == RECORD.describe()
    assert restored.action == "block"


def test_query_error_summary_keeps_database_error():
    message = "\n".join(
        [
            "Could not execute metric query: ",
            "select count(*)",
            "from staging.quarantine:",
            'relation "staging.quarantine" does not exist',
            "LINE 2: from staging.quarantine",
        ]
    )
    assert summarize_message(message) == 'Could not execute metric query: relation "staging.quarantine" does not exist'


def test_one_line_message_is_kept():
    assert summarize_message("could not connect to the warehouse: timeout\n") == (
        "could not connect to the warehouse: timeout"
    )
