-- Product-usage retention of paid-plan workspaces by signup month (UTC), dense: one row per
-- cohort and month up to the month of the run's data interval end, 0 when no workspace of the
-- cohort was active. Active = any event other than session_start, session_end and heartbeat,
-- as core.workspace_active_months records it. A workspace's plan tier is only known as it is
-- now, so the cohorts are rebuilt in full on every run, from these two small tables.
with settings as (
    select {{ bind('as_of') }}::timestamptz as as_of
),

workspaces as (
    select
        workspace_id,
        date_trunc('month', created_at at time zone 'UTC')::date as cohort_month
    from staging.product_workspaces
    where plan_tier <> 'free'
),

active_months as (
    select * from core.workspace_active_months
),

cohorts as (
    select
        cohort_month,
        count(*) as cohort_workspaces
    from workspaces
    group by cohort_month
),

first_cohort as (
    select min(cohort_month) as cohort_month from cohorts
),

months as (
    select month_value::date as month_start
    from settings
    cross join first_cohort
    cross join lateral generate_series(
        first_cohort.cohort_month,
        date_trunc('month', (settings.as_of - interval '1 microsecond') at time zone 'UTC'),
        interval '1 month'
    ) as month_value
),

activity as (
    select
        workspaces.cohort_month,
        active_months.month_start,
        count(*) as active_workspaces
    from workspaces
    inner join active_months
        on workspaces.workspace_id = active_months.workspace_id
    group by workspaces.cohort_month, active_months.month_start
),

final as (
    select
        cohorts.cohort_month,
        months.month_start,
        (
            (extract(year from months.month_start) - extract(year from cohorts.cohort_month)) * 12
            + extract(month from months.month_start) - extract(month from cohorts.cohort_month)
        )::integer as months_since_cohort,
        cohorts.cohort_workspaces,
        coalesce(activity.active_workspaces, 0) as active_workspaces,
        coalesce(activity.active_workspaces, 0)::numeric / nullif(cohorts.cohort_workspaces, 0) as retention
    from cohorts
    inner join months
        on cohorts.cohort_month <= months.month_start
    left join activity
        on
            cohorts.cohort_month = activity.cohort_month
            and months.month_start = activity.month_start
)

select * from final
