-- Feature adoption per ISO week (Monday 00:00 UTC) and feature, for every complete week before
-- the run's data interval end. A feature is a product event name other than session_start,
-- session_end and heartbeat. A workspace or account is active in a week with any such event.
-- Accounts are billing customers (staging.product_workspaces.customer_id); workspaces without
-- a customer count as workspaces only. Shares are null, never 0, when nobody was active.
with settings as (
    select {{ bind('as_of') }}::timestamptz as as_of
),

workspaces as (
    select
        workspace_id,
        customer_id
    from staging.product_workspaces
),

events as (
    select
        product_events.workspace_id,
        workspaces.customer_id,
        product_events.event_name as feature,
        date_trunc('week', product_events.occurred_at at time zone 'UTC')::date as week_start
    from staging.product_events
    cross join settings
    left join workspaces
        on product_events.workspace_id = workspaces.workspace_id
    where
        product_events.event_name not in ('session_start', 'session_end', 'heartbeat')
        and product_events.occurred_at < settings.as_of
),

complete_weeks as (
    select events.*
    from events
    cross join settings
    where (events.week_start + 7)::timestamp at time zone 'UTC' <= settings.as_of
),

active as (
    select
        week_start,
        count(distinct workspace_id) as active_workspaces,
        count(distinct customer_id) as active_accounts
    from complete_weeks
    group by week_start
),

first_use as (
    select
        customer_id,
        feature,
        min(week_start) as first_week_start
    from events
    where customer_id is not null
    group by customer_id, feature
),

adoption as (
    select
        complete_weeks.week_start,
        complete_weeks.feature,
        count(distinct complete_weeks.workspace_id) as adopting_workspaces,
        count(distinct complete_weeks.customer_id) as adopting_accounts,
        count(distinct complete_weeks.customer_id) filter (
            where first_use.first_week_start = complete_weeks.week_start
        ) as first_time_accounts
    from complete_weeks
    left join first_use
        on
            complete_weeks.customer_id = first_use.customer_id
            and complete_weeks.feature = first_use.feature
    group by complete_weeks.week_start, complete_weeks.feature
),

final as (
    select
        adoption.week_start,
        (adoption.week_start + 6) as week_end,
        to_char(adoption.week_start, 'IYYY-"W"IW') as iso_week,
        adoption.feature,
        adoption.adopting_workspaces,
        active.active_workspaces,
        adoption.adopting_workspaces::numeric / nullif(active.active_workspaces, 0) as share_of_active_workspaces,
        adoption.adopting_accounts,
        adoption.first_time_accounts,
        active.active_accounts,
        adoption.adopting_accounts::numeric / nullif(active.active_accounts, 0) as share_of_active_accounts,
        settings.as_of
    from adoption
    inner join active
        on adoption.week_start = active.week_start
    cross join settings
)

select * from final
