"""The finance validation stamp: its text, where it is read from, and the values it accepts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from saas_metrics.reports.validation import (
    HELD,
    NOT_VALIDATED,
    VALIDATED,
    FinanceValidation,
    ValidationStampError,
    coerce_validation,
    from_difference,
    from_record,
    read_board_deck_validation,
    read_reconciliation_validation,
)

MAY = dt.date(2026, 5, 1)


def test_within_tolerance_is_validated():
    assert from_difference("0.004", tolerance="0.005", source="test").status == VALIDATED


def test_negative_difference_within_tolerance():
    assert from_difference("-0.005", tolerance="0.005", source="test").status == VALIDATED


def test_beyond_tolerance_is_held():
    assert from_difference("0.0051", tolerance="0.005", source="test").status == HELD


def test_validated_stamp_text():
    stamp = from_difference("-0.0012", tolerance="0.005", source="test").stamp
    assert stamp == "Validated by finance: ARR within 0.12 % of finance's ARR (tolerance 0.50 %)"


def test_held_stamp_text():
    stamp = from_difference("0.031", tolerance="0.005", source="test").stamp
    assert stamp == "Held by finance: ARR differs from finance's ARR by 3.10 % (tolerance 0.50 %)"


def test_not_validated_stamp_text():
    stamp = FinanceValidation(status=NOT_VALIDATED, detail="no report").stamp
    assert stamp == "Not validated by finance: no report"


def test_unknown_status_rejected():
    with pytest.raises(ValidationStampError, match="Invalid validation status 'approved'"):
        FinanceValidation(status="approved")


def test_dict_round_trip():
    stamp = from_difference("0.001", tolerance="0.005", source="analytics.arr_reconciliation")
    assert FinanceValidation.from_dict(stamp.as_dict()) == stamp


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("validated", VALIDATED),
        ("Not validated", NOT_VALIDATED),
        ("held", HELD),
        (True, VALIDATED),
        (False, NOT_VALIDATED),
        ("false", NOT_VALIDATED),
        ({"status": "held", "difference_ratio": "0.02"}, HELD),
    ],
)
def test_coerce_accepted_values(value, status):
    assert coerce_validation(value).status == status


@pytest.mark.parametrize("value", [None, "", "None"])
def test_coerce_empty_is_none(value):
    assert coerce_validation(value) is None


def test_coerce_rejects_numbers():
    with pytest.raises(ValidationStampError, match="Invalid validation 3"):
        coerce_validation(3)


def test_record_with_status_text():
    stamp = from_record(
        {"month_start": MAY, "validation_status": "validated", "difference_ratio": Decimal("0.001")},
        source="analytics.board_deck_latest",
    )
    assert stamp.status == VALIDATED
    assert stamp.difference_ratio == Decimal("0.001")


def test_record_with_held_stamp():
    stamp = from_record({"validation_stamp": "held: ARR differs by 2 %"}, source="analytics.board_deck_latest")
    assert stamp.status == HELD
    assert stamp.detail == "held: ARR differs by 2 %"


def test_record_with_boolean():
    assert from_record({"is_validated": True}, source="t").status == VALIDATED


def test_record_without_stamp_column():
    stamp = from_record({"month_start": MAY, "mrr": 1}, source="analytics.board_deck_latest")
    assert stamp.status == NOT_VALIDATED
    assert "no validation stamp column" in stamp.detail


def _create_reconciliation(conn, rows):
    conn.execute("create schema if not exists analytics")
    conn.execute(
        "create table analytics.arr_reconciliation (month_start date, has_finance_report boolean, "
        "difference_ratio numeric, finance_reported_at timestamptz)"
    )
    for row in rows:
        conn.execute("insert into analytics.arr_reconciliation values (%s, %s, %s, %s)", row)


def test_reconciliation_table_missing(warehouse_db):
    with warehouse_db.connect() as conn:
        stamp = read_reconciliation_validation(conn, MAY)
    assert stamp.status == NOT_VALIDATED
    assert stamp.detail == "analytics.arr_reconciliation does not exist"


def test_reconciliation_within_tolerance(warehouse_db):
    reported_at = dt.datetime(2026, 6, 5, tzinfo=dt.UTC)
    with warehouse_db.connect() as conn:
        _create_reconciliation(conn, [(MAY, True, Decimal("0.002"), reported_at)])
        stamp = read_reconciliation_validation(conn, MAY)
    assert stamp.status == VALIDATED
    assert stamp.checked_at == reported_at


def test_reconciliation_month_not_reported(warehouse_db):
    with warehouse_db.connect() as conn:
        _create_reconciliation(conn, [(MAY, False, None, None)])
        stamp = read_reconciliation_validation(conn, MAY)
    assert stamp.status == NOT_VALIDATED
    assert stamp.detail == "finance has not reported ARR for 2026-05"


def test_reconciliation_beyond_tolerance(warehouse_db):
    with warehouse_db.connect() as conn:
        _create_reconciliation(conn, [(MAY, True, Decimal("-0.02"), None)])
        stamp = read_reconciliation_validation(conn, MAY, tolerance=Decimal("0.01"))
    assert stamp.status == HELD


def test_board_deck_table_missing(warehouse_db):
    with warehouse_db.connect() as conn:
        assert read_board_deck_validation(conn, MAY) is None


def test_board_deck_row_read(warehouse_db):
    with warehouse_db.connect() as conn:
        conn.execute("create schema analytics")
        conn.execute("create table analytics.board_deck_latest (month_start date, validation_status text)")
        conn.execute("insert into analytics.board_deck_latest values (%s, 'validated')", (MAY,))
        stamp = read_board_deck_validation(conn, MAY)
    assert stamp.status == VALIDATED
    assert stamp.source == "analytics.board_deck_latest"


def test_board_deck_other_month_is_none(warehouse_db):
    with warehouse_db.connect() as conn:
        conn.execute("create schema analytics")
        conn.execute("create table analytics.board_deck_latest (month_start date, validation_status text)")
        conn.execute("insert into analytics.board_deck_latest values ('2026-04-01', 'validated')")
        assert read_board_deck_validation(conn, MAY) is None


def test_record_from_board_deck_outcome():
    stamp = from_record(
        {"month_start": MAY, "finance_validation_outcome": "passed", "arr_difference_ratio": Decimal("-0.002")},
        source="analytics.board_deck_latest",
    )
    assert stamp.status == VALIDATED
    assert stamp.difference_ratio == Decimal("-0.002")


def test_record_failed_outcome_is_held():
    assert from_record({"finance_validation_outcome": "failed"}, source="t").status == HELD


def test_board_deck_threshold_from_quality_gate(warehouse_db):
    from saas_metrics.quality.storage import CREATE_RESULTS_TABLE

    with warehouse_db.connect() as conn:
        conn.execute("create schema analytics")
        conn.execute(CREATE_RESULTS_TABLE)
        conn.execute(
            "insert into analytics.data_quality_results (dag_id, run_id, task_id, table_name, contract, check_name, "
            "severity, threshold_level, outcome, action, threshold, recorded_at) values ('board_report_monthly', "
            "'run-1', 'validate_against_finance', 'analytics.arr_reconciliation', 'c.yml', 'arr_matches_finance', "
            "'critical', 'fail', 'passed', 'pass', 'must be <= 0.005 (fail)', now())"
        )
        conn.execute(
            "create table analytics.board_deck_latest as select '2026-05-01'::date as month_start, "
            "0.0012::numeric as arr_difference_ratio, 'passed'::text as finance_validation_outcome, "
            "now() as validated_at, 'board_report_monthly'::text as validated_by_dag_id, "
            "'run-1'::text as validated_by_run_id"
        )
        stamp = read_board_deck_validation(conn, MAY)
    assert stamp.tolerance == Decimal("0.005")
    assert stamp.stamp == "Validated by finance: ARR within 0.12 % of finance's ARR (tolerance 0.50 %)"
