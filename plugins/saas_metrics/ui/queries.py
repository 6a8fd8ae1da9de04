"""Queries behind the metrics page: analytics tables in, JSON-serializable dicts out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

TREND_MONTHS = 12
QUALITY_TABLE = "analytics.data_quality_results"

OVERVIEW_SQL = """
    select
        monthly.month_start, monthly.is_provisional, monthly.currency, monthly.as_of, monthly.mrr,
        monthly.arr, monthly.paying_customers, ndr.ndr_trailing_12m, ndr.gdr_trailing_12m,
        churn.logo_churn_rate, churn.gross_mrr_churn_rate
    from analytics.mrr_monthly as monthly
    left join analytics.ndr_monthly as ndr
        on monthly.month_start = ndr.month_start
    left join analytics.churn_monthly as churn
        on monthly.month_start = churn.month_start
    where monthly.currency_basis = 'reporting'
    order by monthly.month_start desc
    limit %s
"""
METRIC_COLUMNS = (
    "mrr",
    "arr",
    "paying_customers",
    "ndr_trailing_12m",
    "gdr_trailing_12m",
    "logo_churn_rate",
    "gross_mrr_churn_rate",
)


def _number(value):
    if isinstance(value, Decimal):
        return float(value)
    return value


def _table_exists(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]


def metrics_overview(conn) -> dict[str, Any]:
    """Return the latest closed month's MRR, ARR, NDR, GDR and churn, its trend and the open month.

    `trend` lists the closed months, oldest first, up to TREND_MONTHS of them. `open_month` is
    the provisional month that the daily runs still rewrite, or None.
    """
    if not _table_exists(conn, "analytics.mrr_monthly"):
        return {"available": False, "reason": "analytics.mrr_monthly does not exist: the daily DAG has not run yet."}
    rows = conn.execute(OVERVIEW_SQL, (TREND_MONTHS + 1,)).fetchall()
    months = []
    for month_start, is_provisional, currency, as_of, *values in rows:
        month = {
            "month": f"{month_start:%Y-%m}",
            "is_provisional": is_provisional,
            "currency": currency.upper(),
            "as_of": as_of.isoformat(),
        }
        month.update({name: _number(value) for name, value in zip(METRIC_COLUMNS, values, strict=True)})
        months.append(month)
    closed = [month for month in months if not month["is_provisional"]][:TREND_MONTHS]
    open_months = [month for month in months if month["is_provisional"]]
    if not closed:
        return {"available": False, "reason": "analytics.mrr_monthly has no closed month yet."}
    latest = closed[0]
    previous = closed[1] if len(closed) > 1 else None
    return {
        "available": True,
        "month": latest["month"],
        "currency": latest["currency"],
        "as_of": latest["as_of"],
        "latest": latest,
        "previous": previous,
        "trend": list(reversed(closed)),
        "open_month": open_months[0] if open_months else None,
    }


def _columns(conn, table: str) -> set[str]:
    schema, name = table.split(".")
    rows = conn.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, name),
    ).fetchall()
    return {row[0] for row in rows}


def quality_gate(conn) -> dict[str, Any]:
    """Return the checks of the latest quality-gate run in analytics.data_quality_results.

    The latest run is the (dag_id, run_id) with the latest recorded_at, or the run_id alone
    when the table has no dag_id column. A check fails when the gate's `action` is block and
    warns when it is warn. Without an `action` column, outcomes fail, failed, error and
    not_evaluated fail and warn warns. Checks are listed failed first, then warnings.
    """
    if not _table_exists(conn, QUALITY_TABLE):
        return {"available": False, "reason": f"{QUALITY_TABLE} does not exist: no quality gate has recorded results."}
    columns = _columns(conn, QUALITY_TABLE)
    run_columns = ["dag_id", "run_id"] if "dag_id" in columns else ["run_id"]
    latest = conn.execute(
        f"select {', '.join(run_columns)}, max(recorded_at) from {QUALITY_TABLE} "
        f"group by {', '.join(run_columns)} order by max(recorded_at) desc limit 1"
    ).fetchone()
    if latest is None:
        return {"available": False, "reason": f"{QUALITY_TABLE} is empty."}
    run = dict(zip(run_columns, latest[:-1], strict=True))

    if "action" in columns:
        failed, warning = "action = 'block'", "action = 'warn'"
    else:
        failed = "lower(outcome) in ('fail', 'failed', 'error', 'not_evaluated')"
        warning = "lower(outcome) in ('warn', 'warning')"
    selected = [
        name
        for name in ("table_name", "check_name", "severity", "outcome", "action", "value", "threshold", "message",
                     "recorded_at", "data_interval_end")
        if name in columns
    ]
    cursor = conn.execute(
        f"""
        select {', '.join(selected)}, {failed} as is_failed, {warning} as is_warning
        from {QUALITY_TABLE}
        where {' and '.join(f'{name} = %s' for name in run_columns)}
        order by {failed} desc, {warning} desc, table_name, check_name
        """,
        tuple(run.values()),
    )
    names = [column.name for column in cursor.description]
    checks = []
    for row in cursor.fetchall():
        check = {name: _json_value(value) for name, value in zip(names, row, strict=True)}
        checks.append(check)
    failed_checks = [check for check in checks if check["is_failed"]]
    return {
        "available": True,
        **run,
        "data_interval_end": checks[0].get("data_interval_end") if checks else None,
        "recorded_at": _json_value(latest[-1]),
        "checks": checks,
        "failed": len(failed_checks),
        "warnings": sum(1 for check in checks if check["is_warning"]),
        "passed": sum(1 for check in checks if str(check.get("outcome")).lower() in ("pass", "passed")),
        "failed_critical": sum(1 for check in failed_checks if str(check.get("severity")).lower() == "critical"),
    }


def _json_value(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return _number(value)
