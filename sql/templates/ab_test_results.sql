-- A/B test conversion by variant: users assigned to each variant of the experiment (their first
-- assignment event) and how many of them had the conversion event within the window after it.
-- Users assigned to more than one variant are left out. The statistics (difference, z-test,
-- confidence interval) are computed from these counts by the template runner.
with settings as (
    select
        {{ bind('experiment_id') }}::text as experiment_id,
        {{ bind('assignment_event') }}::text as assignment_event,
        {{ bind('conversion_event') }}::text as conversion_event,
        {{ bind('conversion_window_days') }}::integer as conversion_window_days
),

events as (
    select * from product_events.events
),

assignments as (
    select
        events.user_id,
        events.properties ->> 'variant' as variant,
        events.occurred_at
    from events
    cross join settings
    where
        events.event_name = settings.assignment_event
        and events.properties ->> 'experiment_id' = settings.experiment_id
        and events.properties ->> 'variant' is not null
        and events.user_id is not null
),

assigned_users as (
    select
        user_id,
        min(variant) as variant,
        min(occurred_at) as assigned_at
    from assignments
    group by user_id
    having count(distinct variant) = 1
),

converted_users as (
    select distinct assigned_users.user_id
    from assigned_users
    inner join events on assigned_users.user_id = events.user_id
    cross join settings
    where
        events.event_name = settings.conversion_event
        and events.occurred_at >= assigned_users.assigned_at
        and events.occurred_at < assigned_users.assigned_at + make_interval(days => settings.conversion_window_days)
),

final as (
    select
        assigned_users.variant,
        count(*) as assigned_users,
        count(converted_users.user_id) as converted_users
    from assigned_users
    left join converted_users on assigned_users.user_id = converted_users.user_id
    group by assigned_users.variant
)

select * from final
order by variant
