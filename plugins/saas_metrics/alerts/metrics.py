"""The metric catalog: the metrics that alert rules in include/config/alerts.yml can watch.

Each metric is one SQL query over analytics tables that returns at most one row for the
evaluation period (the calendar month of the run's data interval end, in UTC). Its columns
are the metric's values: a rule's condition compares one of them to a threshold, and its
message template can show any of them. Queries receive two bound parameters:

- ``period_start``: the first day of the evaluated month (a date).
- ``as_of``: the end of the run's data interval (a UTC timestamp). A query reads no data
  after it, so evaluating an old interval again gives the same values.

A metric lists the tables it reads. While one of them does not exist yet, rules on the metric
are recorded as "not evaluated" with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Metric:
    """A named query that returns the values of one metric for one period.

    `values` maps each column of the query to its kind: number, integer, text or boolean.
    """

    name: str
    description: str
    tables: tuple[str, ...]
    values: Mapping[str, str]
    sql: str

    def numeric_values(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.values.items() if kind in ("number", "integer"))


MRR_MONTH_OVER_MONTH = Metric(
    name="mrr_month_over_month",
    description=(
        "MRR of the period month in the reporting currency (the open month is provisional: "
        "MRR as of the interval end) against the MRR at the end of the previous month."
    ),
    tables=("analytics.mrr_monthly",),
    values=MappingProxyType(
        {
            "currency": "text",
            "is_provisional": "boolean",
            "current_mrr": "number",
            "previous_mrr": "number",
            "month_over_month_change": "number",
        }
    ),
    sql="""
        with mrr_monthly as (
            select
                month_start,
                currency,
                is_provisional,
                mrr
            from analytics.mrr_monthly
            where currency_basis = 'reporting'
        ),

        current_month as (
            select
                max(currency) as currency,
                bool_or(is_provisional) as is_provisional,
                sum(mrr) as mrr
            from mrr_monthly
            where month_start = %(period_start)s::date
            having count(*) > 0
        ),

        previous_month as (
            select sum(mrr) as mrr
            from mrr_monthly
            where month_start = (%(period_start)s::date - interval '1 month')::date
            having count(*) > 0
        ),

        final as (
            select
                upper(current_month.currency) as currency,
                current_month.is_provisional,
                current_month.mrr as current_mrr,
                previous_month.mrr as previous_mrr,
                (current_month.mrr - previous_month.mrr)
                / nullif(previous_month.mrr, 0) as month_over_month_change
            from current_month
            left join previous_month on true
        )

        select * from final
    """,
)

LOGO_CHURN_MONTHLY = Metric(
    name="logo_churn_monthly",
    description=(
        "Churn rates of the period month from analytics.churn_monthly (month to date for the "
        "open month), with the churned and starting customer counts from analytics.mrr_monthly."
    ),
    tables=("analytics.churn_monthly", "analytics.mrr_monthly"),
    values=MappingProxyType(
        {
            "logo_churn_rate": "number",
            "gross_mrr_churn_rate": "number",
            "net_mrr_churn_rate": "number",
            "churned_customers": "integer",
            "starting_customers": "integer",
        }
    ),
    sql="""
        with churn_monthly as (
            select
                logo_churn_rate,
                gross_mrr_churn_rate,
                net_mrr_churn_rate
            from analytics.churn_monthly
            where month_start = %(period_start)s::date
        ),

        customer_counts as (
            select
                sum(churned_customers)::bigint as churned_customers,
                sum(starting_customers)::bigint as starting_customers
            from analytics.mrr_monthly
            where
                currency_basis = 'reporting'
                and month_start = %(period_start)s::date
        ),

        final as (
            select
                churn_monthly.logo_churn_rate,
                churn_monthly.gross_mrr_churn_rate,
                churn_monthly.net_mrr_churn_rate,
                customer_counts.churned_customers,
                customer_counts.starting_customers
            from churn_monthly
            cross join customer_counts
        )

        select * from final
    """,
)

INFRASTRUCTURE_COST_PER_USER = Metric(
    name="infrastructure_cost_per_user",
    description=(
        "Infrastructure cost per active user of the period month against the previous month, "
        "from the complete days (UTC) before the interval end. The daily rate is the total cost "
        "divided by the sum of daily active users, so it is the cost per user-day. The "
        "month-over-month change compares daily rates, so the length of a month does not move "
        "it. The per-month values are the daily rate times the days of that month."
    ),
    tables=("analytics.infrastructure_cost_daily",),
    values=MappingProxyType(
        {
            "cost_days": "integer",
            "current_cost_per_user": "number",
            "previous_cost_per_user": "number",
            "month_over_month_change": "number",
        }
    ),
    sql="""
        with settings as (
            select
                %(period_start)s::date as period_start,
                (%(period_start)s::date - interval '1 month')::date as previous_start,
                (%(period_start)s::date + interval '1 month')::date as period_end,
                (%(as_of)s::timestamptz at time zone 'UTC')::date as as_of_date
        ),

        daily_costs as (
            select
                infrastructure_cost_daily.total_cost_usd,
                infrastructure_cost_daily.active_users,
                infrastructure_cost_daily.cost_date >= settings.period_start as is_current_month
            from analytics.infrastructure_cost_daily
            cross join settings
            where
                infrastructure_cost_daily.cost_date >= settings.previous_start
                and infrastructure_cost_daily.cost_date < least(settings.period_end, settings.as_of_date)
        ),

        monthly_rates as (
            select
                is_current_month,
                count(*) as cost_days,
                sum(total_cost_usd) / nullif(sum(active_users), 0)::numeric as cost_per_user_day
            from daily_costs
            group by is_current_month
        ),

        current_month as (
            select
                monthly_rates.cost_days,
                monthly_rates.cost_per_user_day,
                (settings.period_end - settings.period_start) as days_in_month
            from monthly_rates
            cross join settings
            where monthly_rates.is_current_month
        ),

        previous_month as (
            select
                monthly_rates.cost_per_user_day,
                (settings.period_start - settings.previous_start) as days_in_month
            from monthly_rates
            cross join settings
            where not monthly_rates.is_current_month
        ),

        final as (
            select
                current_month.cost_days,
                current_month.cost_per_user_day * current_month.days_in_month as current_cost_per_user,
                previous_month.cost_per_user_day * previous_month.days_in_month as previous_cost_per_user,
                (current_month.cost_per_user_day - previous_month.cost_per_user_day)
                / nullif(previous_month.cost_per_user_day, 0) as month_over_month_change
            from current_month
            left join previous_month on true
        )

        select * from final
    """,
)

MRR_RECONCILIATION_DIFFERENCE = Metric(
    name="mrr_reconciliation_difference",
    description=(
        "Difference between the engine's MRR and the MRR billed on Stripe invoices in the period "
        "month, over all currencies converted to USD: the sum of absolute differences divided by "
        "the invoiced MRR, the same ratio as the quality gate's stripe_reconciliation check."
    ),
    tables=("analytics.mrr_reconciliation", "staging.fx_rates_monthly"),
    values=MappingProxyType(
        {
            "currency": "text",
            "engine_mrr": "number",
            "invoice_mrr": "number",
            "difference_ratio": "number",
            "currencies_compared": "integer",
        }
    ),
    sql="""
        with converted as (
            select
                reconciliation.currency,
                reconciliation.engine_mrr,
                reconciliation.invoiced_mrr,
                reconciliation.difference,
                case when reconciliation.currency = 'usd' then 1 else rates.rate_to_usd end as rate_to_usd
            from analytics.mrr_reconciliation as reconciliation
            left join staging.fx_rates_monthly as rates
                on
                    reconciliation.month_start = rates.month_start
                    and reconciliation.currency = rates.currency
            where reconciliation.month_start = %(period_start)s::date
        ),

        final as (
            select
                'USD' as currency,
                sum(engine_mrr * rate_to_usd) as engine_mrr,
                sum(invoiced_mrr * rate_to_usd) as invoice_mrr,
                sum(abs(difference) * rate_to_usd) / nullif(sum(invoiced_mrr * rate_to_usd), 0) as difference_ratio,
                count(*) as currencies_compared
            from converted
            having count(*) > 0 and bool_and(rate_to_usd is not null)
        )

        select * from final
    """,
)

METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        metric.name: metric
        for metric in (
            MRR_MONTH_OVER_MONTH,
            LOGO_CHURN_MONTHLY,
            INFRASTRUCTURE_COST_PER_USER,
            MRR_RECONCILIATION_DIFFERENCE,
        )
    }
)
