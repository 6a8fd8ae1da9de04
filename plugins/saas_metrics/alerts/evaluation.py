"""Evaluate alert rules against the warehouse for one period and build their messages."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from saas_metrics.alerts.config import AlertRule, MessageFormatter
from saas_metrics.alerts.metrics import Metric
from saas_metrics.notifiers.delivery import Message

log = logging.getLogger(__name__)

FIRED = "fired"
NOT_FIRED = "not_fired"
NOT_EVALUATED = "not_evaluated"
ERROR = "error"


@dataclass(frozen=True)
class Period:
    """The calendar month (UTC) a run's alerts are evaluated for, and the run's data interval end."""

    start: dt.date
    as_of: dt.datetime

    @classmethod
    def for_interval_end(cls, data_interval_end: dt.datetime) -> Period:
        """Return the month that contains the last instant of the interval, in UTC.

        The month of the last instant (end minus 1 microsecond) is used, because an interval
        ending exactly at midnight on the 1st covers the previous month. The models choose
        their open month the same way.
        """
        if data_interval_end.tzinfo is None:
            raise ValueError(f"data_interval_end {data_interval_end!r} has no time zone")
        last_instant = data_interval_end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)
        return cls(start=last_instant.date().replace(day=1), as_of=data_interval_end.astimezone(dt.UTC))

    @property
    def previous_start(self) -> dt.date:
        return (self.start - dt.timedelta(days=1)).replace(day=1)

    @property
    def end(self) -> dt.date:
        return (self.start + dt.timedelta(days=32)).replace(day=1)

    @property
    def is_open(self) -> bool:
        """True while the month has not ended at the interval end, so its values are month to date."""
        return self.as_of < dt.datetime.combine(self.end, dt.time(), tzinfo=dt.UTC)

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")

    @property
    def previous_label(self) -> str:
        return self.previous_start.strftime("%Y-%m")


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one rule for one period: its status, the metric values, and why."""

    rule: AlertRule
    period: Period
    status: str
    values: dict[str, Any] | None = None
    reason: str | None = None
    message: Message | None = None

    @property
    def observed(self):
        return (self.values or {}).get(self.rule.condition.value)


def _missing_tables(conn, metric: Metric) -> list[str]:
    return [
        table
        for table in metric.tables
        if conn.execute("select to_regclass(%s) is null", (table,)).fetchone()[0]
    ]


def fetch_metric(conn, metric: Metric, period: Period) -> tuple[dict[str, Any] | None, str | None]:
    """Run a metric's query; return (values, None), or (None, reason) when there is nothing to compare.

    Raises the database error when the query itself fails, for example on a table whose
    columns differ from what the catalog expects.
    """
    missing = _missing_tables(conn, metric)
    if missing:
        if len(missing) == 1:
            return None, f"table {missing[0]} does not exist yet"
        return None, f"tables {', '.join(missing)} do not exist yet"
    cursor = conn.execute(metric.sql, {"period_start": period.start, "as_of": period.as_of})
    rows = cursor.fetchall()
    if not rows:
        return None, f"no rows for {period.label} in {', '.join(metric.tables)}"
    if len(rows) > 1:
        return None, f"the query returned {len(rows)} rows for {period.label}; a metric must return one row"
    columns = [column.name for column in cursor.description]
    return dict(zip(columns, rows[0], strict=True)), None


def render_message(rule: AlertRule, period: Period, values: dict[str, Any], run_label: str) -> Message:
    """Fill the rule's template and add what on-call needs: the action, the condition and the run."""
    fields = {
        **values,
        "rule": rule.name,
        "severity": rule.severity,
        "period": period.label,
        "previous_period": period.previous_label,
        "threshold": rule.condition.threshold,
    }
    summary = MessageFormatter().format(rule.message, **fields)
    shown_values = ", ".join(f"{name}={_plain(value)}" for name, value in values.items())
    month_to_date = " (month to date)" if period.is_open else ""
    observed = _plain(values[rule.condition.value])
    text = "\n".join(
        [
            summary,
            "",
            f"What to do: {rule.action}",
            "",
            f"Rule: {rule.name}, severity {rule.severity}, metric {rule.metric.name}",
            f"Period: {period.label}{month_to_date}",
            f"Condition: {rule.condition} is true for {rule.condition.value}={observed}",
            f"Values: {shown_values}",
            f"Run: {run_label}",
            f"This alert is sent once for {rule.name} and {period.label}; later runs record it in "
            "analytics.alert_history without sending it again.",
        ]
    )
    return Message(subject=f"[{rule.severity.upper()}] {rule.name} for {period.label}", text=text)


def _plain(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{round(value, 6).normalize():f}"
    return str(value)


def evaluate_rule(conn, rule: AlertRule, period: Period, *, run_label: str) -> Evaluation:
    """Evaluate one rule in a savepoint, so that a failing query leaves the connection usable."""
    try:
        with conn.transaction():
            values, reason = fetch_metric(conn, rule.metric, period)
    except Exception as error:
        log.error("Alert rule %s: the query of metric %s failed: %s", rule.name, rule.metric.name, error)
        return Evaluation(rule, period, ERROR, reason=f"query of metric {rule.metric.name} failed: {error}")

    if values is None:
        log.warning("Alert rule %s not evaluated for %s: %s", rule.name, period.label, reason)
        return Evaluation(rule, period, NOT_EVALUATED, reason=reason)

    observed = values.get(rule.condition.value)
    if observed is None:
        reason = (
            f"{rule.condition.value} is null for {period.label} (no previous value or a zero denominator)"
        )
        log.warning("Alert rule %s not evaluated for %s: %s", rule.name, period.label, reason)
        return Evaluation(rule, period, NOT_EVALUATED, values=values, reason=reason)

    if not rule.condition.holds(observed):
        log.info(
            "Alert rule %s for %s: %s is false for %s", rule.name, period.label, rule.condition, observed
        )
        return Evaluation(rule, period, NOT_FIRED, values=values)

    log.info(
        "Alert rule %s for %s fired: %s is true for %s", rule.name, period.label, rule.condition, observed
    )
    return Evaluation(
        rule, period, FIRED, values=values, message=render_message(rule, period, values, run_label)
    )
