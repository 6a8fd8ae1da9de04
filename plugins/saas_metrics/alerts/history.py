"""analytics.alert_history (every evaluation) and analytics.alert_deliveries (one send per rule and month).

A fired alert is claimed before it is sent: one statement inserts the (rule, period) row of
alert_deliveries with status 'sending', or takes over a row whose earlier delivery failed or
whose claim is stale. A run that finds the row delivered, or claimed by another attempt,
sends nothing. So reruns, retries and backfills of the same interval send an alert at most
once. The exception is a task killed after sending but before recording the delivery. It
leaves a 'sending' row, and the first run after STALE_CLAIM sends the alert again.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

from saas_metrics.paths import SQL_DIR

TABLES_SQL = SQL_DIR / "setup" / "alert_tables.sql"
# A 'sending' claim older than this belongs to an attempt that died mid-send and may be taken over.
STALE_CLAIM = dt.timedelta(minutes=30)


def ensure_tables(conn) -> None:
    """Create the alert and notification tables unless they exist, and commit."""
    with conn.transaction():
        # Concurrent `create table if not exists` statements can still collide in the catalog,
        # so the lock serialises callers that run at the same moment (two tasks failing together).
        conn.execute("select pg_advisory_xact_lock(hashtext('saas_metrics.alert_tables'))")
        conn.execute(TABLES_SQL.read_text())


def _json_value(value):
    # Numbers stay JSON numbers. A float keeps the digits of any value with up to 15 significant digits.
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def values_json(values: dict | None) -> str | None:
    if values is None:
        return None
    return json.dumps({name: _json_value(value) for name, value in values.items()})


@dataclass(frozen=True)
class RunInfo:
    """The Airflow run that evaluates the rules, as recorded with each evaluation."""

    dag_id: str | None
    run_id: str | None
    task_try_number: int | None
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None

    @property
    def claimed_by(self) -> str:
        return f"{self.dag_id}/{self.run_id} try {self.task_try_number}"


def record_evaluation(conn, evaluation, run: RunInfo) -> int:
    """Insert one evaluation into analytics.alert_history and return its evaluation_id."""
    rule = evaluation.rule
    with conn.transaction():
        return conn.execute(
            """
            insert into analytics.alert_history (
                rule_name, period_start, metric_name, severity, condition, status, metric_values,
                reason, message, dag_id, run_id, task_try_number, data_interval_start, data_interval_end
            )
            values (
                %(rule_name)s, %(period_start)s, %(metric_name)s, %(severity)s, %(condition)s, %(status)s,
                %(metric_values)s::jsonb, %(reason)s, %(message)s, %(dag_id)s, %(run_id)s,
                %(task_try_number)s, %(data_interval_start)s, %(data_interval_end)s
            )
            returning evaluation_id
            """,
            {
                "rule_name": rule.name,
                "period_start": evaluation.period.start,
                "metric_name": rule.metric.name,
                "severity": rule.severity,
                "condition": str(rule.condition),
                "status": evaluation.status,
                "metric_values": values_json(evaluation.values),
                "reason": evaluation.reason,
                "message": evaluation.message.text if evaluation.message else None,
                "dag_id": run.dag_id,
                "run_id": run.run_id,
                "task_try_number": run.task_try_number,
                "data_interval_start": run.data_interval_start,
                "data_interval_end": run.data_interval_end,
            },
        ).fetchone()[0]


def claim_delivery(
    conn, rule_name: str, period_start: dt.date, evaluation_id: int, claimed_by: str
) -> str | None:
    """Claim the (rule, period) delivery; return None when claimed, else the existing row's status."""
    with conn.transaction():
        claimed = conn.execute(
            """
            insert into analytics.alert_deliveries as deliveries (
                rule_name, period_start, status, claimed_at, claimed_by, evaluation_id
            )
            values (%(rule_name)s, %(period_start)s, 'sending', now(), %(claimed_by)s, %(evaluation_id)s)
            on conflict (rule_name, period_start) do update
            set
                status = 'sending',
                claimed_at = now(),
                claimed_by = excluded.claimed_by,
                evaluation_id = excluded.evaluation_id,
                last_error = null
            where
                deliveries.status = 'failed'
                or (deliveries.status = 'sending' and deliveries.claimed_at < now() - %(stale_claim)s)
            returning 1
            """,
            {
                "rule_name": rule_name,
                "period_start": period_start,
                "claimed_by": claimed_by,
                "evaluation_id": evaluation_id,
                "stale_claim": STALE_CLAIM,
            },
        ).fetchone()
        if claimed:
            return None
        return conn.execute(
            "select status from analytics.alert_deliveries where rule_name = %s and period_start = %s",
            (rule_name, period_start),
        ).fetchone()[0]


def finish_delivery(conn, rule_name: str, period_start: dt.date, evaluation_id: int, result) -> None:
    """Record a delivery's outcome on the claim and on the evaluation that sent it."""
    status = "delivered" if result.delivered else "failed"
    error = None if result.delivered else result.error_summary()
    with conn.transaction():
        conn.execute(
            """
            update analytics.alert_deliveries
            set
                status = %(status)s,
                delivered_at = case when %(status)s = 'delivered' then now() end,
                channel = %(channel)s,
                last_error = %(error)s
            where rule_name = %(rule_name)s and period_start = %(period_start)s
            """,
            {
                "status": status,
                "channel": result.channel,
                "error": error,
                "rule_name": rule_name,
                "period_start": period_start,
            },
        )
        mark_evaluation(conn, evaluation_id, status, channel=result.channel, error=error)


def mark_evaluation(conn, evaluation_id: int, delivery_status: str, *, channel=None, error=None) -> None:
    conn.execute(
        """
        update analytics.alert_history
        set delivery_status = %s, delivered_channel = %s, delivery_error = %s
        where evaluation_id = %s
        """,
        (delivery_status, channel, error, evaluation_id),
    )
