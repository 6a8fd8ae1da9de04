-- The weekly cohort deep dive: billing cohort retention (analytics.cohort_retention) for the
-- cohorts of the last twelve closed months, snapshotted once per report week. The report week
-- is the last complete ISO week (Monday 00:00 UTC) before the run's data interval end. Each
-- row compares the cohort with the size-weighted average of all cohorts at the same age and,
-- for the month still open (is_provisional), with last week's snapshot of the same cell.
with settings as (
    select
        (date_trunc('week', {{ bind('as_of') }}::timestamptz at time zone 'UTC') - interval '7 days')::date
            as week_start
),

cohorts as (
    select * from analytics.cohort_retention
),

averages as (
    select * from analytics.cohort_retention_average
),

monthly as (
    select
        month_start,
        is_provisional,
        as_of
    from analytics.mrr_monthly
    where currency_basis = 'reporting'
),

latest as (
    select
        max(month_start) filter (where not is_provisional) as closed_month_start,
        max(as_of) as data_as_of
    from monthly
),

previous_week as (
    select
        cohort_deep_dive_weekly.cohort_month,
        cohort_deep_dive_weekly.month_start,
        cohort_deep_dive_weekly.revenue_retention
    from analytics.cohort_deep_dive_weekly
    cross join settings
    where cohort_deep_dive_weekly.week_start = settings.week_start - 7
),

final as (
    select
        settings.week_start,
        latest.data_as_of,
        cohorts.cohort_month,
        cohorts.month_start,
        cohorts.months_since_cohort,
        coalesce(monthly.is_provisional, false) as is_provisional,
        cohorts.cohort_customers,
        cohorts.retained_customers,
        cohorts.logo_retention,
        cohorts.cohort_mrr,
        cohorts.retained_mrr,
        cohorts.revenue_retention,
        averages.logo_retention as average_logo_retention,
        averages.revenue_retention as average_revenue_retention,
        cohorts.revenue_retention - averages.revenue_retention as revenue_retention_vs_average,
        previous_week.revenue_retention as previous_week_revenue_retention,
        cohorts.revenue_retention - previous_week.revenue_retention as revenue_retention_week_change
    from cohorts
    cross join settings
    cross join latest
    left join monthly
        on cohorts.month_start = monthly.month_start
    left join averages
        on cohorts.months_since_cohort = averages.months_since_cohort
    left join previous_week
        on
            cohorts.cohort_month = previous_week.cohort_month
            and cohorts.month_start = previous_week.month_start
    where
        cohorts.cohort_month > (latest.closed_month_start - interval '12 months')::date
        and cohorts.cohort_month <= latest.closed_month_start
)

select * from final
