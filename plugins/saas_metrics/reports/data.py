"""Read what the board report shows for one closed month from the analytics tables.

Every value comes from a table the daily DAG writes, in the reporting currency basis. Nothing
here recomputes a metric. The monthly unit economics, which have no table of their own, are
computed in saas_metrics.reports.content and defined in docs/board-report.md. A month must be
closed, because the board gets final numbers only.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

TREND_MONTHS = 24
COHORT_MONTHS = 12
COHORT_AGES = 12


class BoardReportError(RuntimeError):
    """The report cannot be built for the requested month; the message gives the reason and the fix."""


@dataclass(frozen=True)
class MonthMetrics:
    """One month of analytics.mrr_monthly joined with analytics.ndr_monthly and analytics.churn_monthly."""

    month_start: dt.date
    is_provisional: bool
    snapshot_at: dt.datetime
    as_of: dt.datetime
    starting_mrr: Decimal
    mrr: Decimal
    arr: Decimal
    paying_customers: int
    arpa: Decimal | None
    new_customers: int
    new_mrr: Decimal
    expansion_mrr: Decimal
    contraction_mrr: Decimal
    churned_customers: int
    churned_mrr: Decimal
    reactivation_mrr: Decimal
    net_new_mrr: Decimal
    ndr_trailing_12m: Decimal | None
    gdr_trailing_12m: Decimal | None
    logo_churn_rate: Decimal | None
    gross_mrr_churn_rate: Decimal | None
    net_mrr_churn_rate: Decimal | None
    quick_ratio: Decimal | None


@dataclass(frozen=True)
class CohortCell:
    cohort_month: dt.date
    months_since_cohort: int
    cohort_customers: int
    revenue_retention: Decimal | None
    logo_retention: Decimal | None


@dataclass(frozen=True)
class SegmentRow:
    segment_name: str
    paying_accounts: int
    mrr: Decimal
    average_mrr: Decimal | None
    average_daily_active_users: Decimal | None
    average_features_adopted: Decimal | None
    churn_rate: Decimal | None


@dataclass(frozen=True)
class InfrastructureMonth:
    """AWS cost of the month (USD) and the users active in the 30 days ending on its last cost day."""

    total_cost_usd: Decimal
    cost_days: int
    last_cost_date: dt.date
    monthly_active_users: Decimal | None


@dataclass(frozen=True)
class BoardReportData:
    month: dt.date
    currency: str
    months: tuple[MonthMetrics, ...]
    cohorts: tuple[CohortCell, ...]
    segments: tuple[SegmentRow, ...]
    infrastructure: InfrastructureMonth | None
    segment_thresholds: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    @property
    def current(self) -> MonthMetrics:
        return self.months[-1]

    @property
    def previous(self) -> MonthMetrics | None:
        return self.months[-2] if len(self.months) > 1 else None

    @property
    def month_end(self) -> dt.date:
        """The last day of the report month, the date monthly figures run to."""
        return self.month.replace(day=calendar.monthrange(self.month.year, self.month.month)[1])

    @property
    def label(self) -> str:
        return self.month.strftime("%B %Y")


MONTHS_SQL = """
    select
        monthly.month_start, monthly.is_provisional, monthly.snapshot_at, monthly.as_of,
        monthly.starting_mrr, monthly.mrr, monthly.arr, monthly.paying_customers, monthly.arpa,
        monthly.new_customers, monthly.new_mrr, monthly.expansion_mrr, monthly.contraction_mrr,
        monthly.churned_customers, monthly.churned_mrr, monthly.reactivation_mrr, monthly.net_new_mrr,
        ndr.ndr_trailing_12m, ndr.gdr_trailing_12m,
        churn.logo_churn_rate, churn.gross_mrr_churn_rate, churn.net_mrr_churn_rate, churn.quick_ratio,
        monthly.currency
    from analytics.mrr_monthly as monthly
    left join analytics.ndr_monthly as ndr
        on monthly.month_start = ndr.month_start
    left join analytics.churn_monthly as churn
        on monthly.month_start = churn.month_start
    where
        monthly.currency_basis = 'reporting'
        and monthly.month_start > %(month)s::date - make_interval(months => %(months)s)
        and monthly.month_start <= %(month)s::date
    order by monthly.month_start
"""

COHORTS_SQL = """
    select cohort_month, months_since_cohort, cohort_customers, revenue_retention, logo_retention
    from analytics.cohort_retention
    where
        cohort_month > %(month)s::date - make_interval(months => %(months)s)
        and month_start <= %(month)s::date
        and months_since_cohort < %(ages)s
    order by cohort_month, months_since_cohort
"""

SEGMENTS_SQL = """
    select
        segment_name, paying_accounts, mrr, average_mrr, average_daily_active_users,
        average_features_adopted, churn_rate
    from analytics.segment_metrics
    where month_start = %(month)s and segment_name is not null
"""

INFRASTRUCTURE_SQL = """
    select
        sum(total_cost_usd), count(*), max(cost_date),
        (array_agg(monthly_active_users order by cost_date desc))[1]
    from analytics.infrastructure_cost_daily
    where cost_date >= %(month)s::date and cost_date < (%(month)s::date + interval '1 month')
"""


def load_board_report_data(
    conn, month: dt.date, *, segment_thresholds: tuple[tuple[str, float], ...] = ()
) -> BoardReportData:
    """Read the report month and the months before it; raise BoardReportError unless it is closed.

    :param conn: An open psycopg connection to the warehouse.
    :param month: The first day of the report month.
    :param segment_thresholds: (name, minimum MRR) of each segment, in the order of
        include/config/metrics.yml; the segment table follows that order.
    """
    month = month.replace(day=1)
    parameters = {"month": month, "months": TREND_MONTHS, "ages": COHORT_AGES}
    rows = conn.execute(MONTHS_SQL, parameters).fetchall()
    if not rows or rows[-1][0] != month:
        latest = latest_closed_month(conn)
        hint = (
            f"the latest closed month is {latest:%Y-%m}"
            if latest
            else "no month is closed yet; run the daily DAG saas_metrics_daily first"
        )
        raise BoardReportError(f"analytics.mrr_monthly has no row for {month:%Y-%m}: {hint}.")
    months = tuple(MonthMetrics(*row[:-1]) for row in rows)
    if months[-1].is_provisional:
        raise BoardReportError(
            f"{month:%Y-%m} is still open (provisional) in analytics.mrr_monthly: the board report needs a "
            "closed month. Build it after the first daily run of the following month."
        )
    currency = rows[-1][-1].upper()

    cohort_parameters = {**parameters, "months": COHORT_MONTHS}
    cohorts = tuple(CohortCell(*row) for row in conn.execute(COHORTS_SQL, cohort_parameters).fetchall())

    segment_rows = [SegmentRow(*row) for row in conn.execute(SEGMENTS_SQL, parameters).fetchall()]
    position = {name: index for index, (name, _) in enumerate(segment_thresholds)}
    segment_rows.sort(key=lambda row: (position.get(row.segment_name, len(position)), row.segment_name))

    infrastructure = None
    if _table_exists(conn, "analytics.infrastructure_cost_daily"):
        total, days, last_day, active_users = conn.execute(INFRASTRUCTURE_SQL, parameters).fetchone()
        if days:
            infrastructure = InfrastructureMonth(
                total_cost_usd=total, cost_days=days, last_cost_date=last_day, monthly_active_users=active_users
            )

    return BoardReportData(
        month=month,
        currency=currency,
        months=months,
        cohorts=cohorts,
        segments=tuple(segment_rows),
        infrastructure=infrastructure,
        segment_thresholds=tuple(segment_thresholds),
    )


def latest_closed_month(conn) -> dt.date | None:
    """Return the latest month that is closed (not provisional) in analytics.mrr_monthly."""
    return conn.execute(
        "select max(month_start) from analytics.mrr_monthly where currency_basis = 'reporting' and not is_provisional"
    ).fetchone()[0]


def _table_exists(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]
