"""The monthly board report's decision: publish the closed month's board metrics, or hold them.

The board DAG validates the closed month with the quality gate (fail_on_blocking=False), then
branches on the gate's result: no blocking result publishes analytics.board_deck_latest, any
blocking result holds it and notifies finance with both ARR numbers and their difference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

PUBLISH_TASK_ID = "publish_board_deck"
HOLD_TASK_ID = "notify_board_report_held"
# The finance reconciliation, and the tables analytics.board_deck_latest reads.
BOARD_CONTRACTS = (
    "analytics/arr_reconciliation.yml",
    "analytics/mrr_monthly.yml",
    "analytics/churn_monthly.yml",
    "analytics/ndr_monthly.yml",
)


@dataclass(frozen=True)
class ArrComparison:
    """The engine's and finance's ARR of one month, in USD, with None where a number is missing."""

    month: dt.date
    engine_arr_usd: Decimal | None
    finance_arr_usd: Decimal | None
    difference_ratio: Decimal | None


def choose_board_path(validation: dict) -> str:
    """Return the task to run after validation: publish when nothing blocks, hold otherwise."""
    return HOLD_TASK_ID if validation["blocking"] else PUBLISH_TASK_ID


def read_arr_comparison(conn, month: dt.date) -> ArrComparison:
    """Read `month` from analytics.arr_reconciliation. A month without a row has no numbers."""
    row = conn.execute(
        "select engine_arr_usd, finance_arr_usd, difference_ratio "
        "from analytics.arr_reconciliation where month_start = %s",
        (month,),
    ).fetchone()
    return ArrComparison(month, *(row or (None, None, None)))


def hold_board_report(context, *, conn_id: str, validation: dict) -> str:
    """Notify that the closed month's board report is held, and return the 'board report held: ...' message."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from saas_metrics.config import load_metrics_config
    from saas_metrics.notifiers.board import notify_board_report_held
    from saas_metrics.periods import closed_month_start
    from saas_metrics.quality.records import CheckRecord

    month = closed_month_start(context["data_interval_end"], load_metrics_config().reporting_time_zone)
    with PostgresHook(postgres_conn_id=conn_id).get_conn() as conn:
        comparison = read_arr_comparison(conn, month)
    reasons = [CheckRecord.from_dict(record).describe() for record in validation["blocking"]]
    return notify_board_report_held(
        context,
        month,
        _as_float(comparison.engine_arr_usd),
        _as_float(comparison.finance_arr_usd),
        _as_float(comparison.difference_ratio),
        reasons=reasons,
    )


def end_board_run(hold_message: str | None) -> None:
    """Fail the run when the report was held, so that the hold shows as a failed run."""
    from airflow.sdk.exceptions import AirflowFailException

    if hold_message:
        raise AirflowFailException(hold_message)


def _as_float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
