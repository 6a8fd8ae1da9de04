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


def quality_gate(conn) -> dict[str, Any]:
    """Return the checks of the latest quality-gate run in analytics.data_quality_results.

    The latest run is the run_id with the latest recorded_at. Checks are listed failed first.
    """
    if not _table_exists(conn, QUALITY_TABLE):
        return {"available": False, "reason": f"{QUALITY_TABLE} does not exist: no quality gate has recorded results."}
    latest = conn.execute(
        f"select run_id, data_interval_end, max(recorded_at) from {QUALITY_TABLE} "
        "group by run_id, data_interval_end order by max(recorded_at) desc limit 1"
    ).fetchone()
    if latest is None:
        return {"available": False, "reason": f"{QUALITY_TABLE} is empty."}
    run_id, interval_end, recorded_at = latest
    cursor = conn.execute(
        f"""
        select table_name, check_name, severity, outcome, value, threshold, message, recorded_at
        from {QUALITY_TABLE}
        where run_id = %s
        order by lower(outcome) in ('pass', 'passed'), severity, table_name, check_name
        """,
        (run_id,),
    )
    names = [column.name for column in cursor.description]
    checks = []
    for row in cursor.fetchall():
        check = {name: _number(value) for name, value in zip(names, row, strict=True)}
        check["recorded_at"] = check["recorded_at"].isoformat() if check["recorded_at"] else None
        check["passed"] = str(check["outcome"]).lower() in ("pass", "passed")
        checks.append(check)
    failed = [check for check in checks if not check["passed"]]
    return {
        "available": True,
        "run_id": run_id,
        "data_interval_end": interval_end.isoformat() if isinstance(interval_end, dt.datetime) else interval_end,
        "recorded_at": recorded_at.isoformat() if recorded_at else None,
        "checks": checks,
        "passed": len(checks) - len(failed),
        "failed": len(failed),
        "failed_critical": sum(1 for check in failed if str(check["severity"]).lower() == "critical"),
    }
