-- Product activity per complete UTC day: daily active users (DAU), users active in the 30 days ending
-- that day (MAU), their ratio, and signups. A user is active on a day with any event other
-- than session_start, session_end and heartbeat.
-- Days from the bound recompute_from are written; events from 31 days earlier are read so
-- that the first written day's MAU covers its whole 30-day window, and signups only from
-- recompute_from.
with settings as (
    select
        {{ bind('as_of') }}::timestamptz as as_of,
        {{ bind('recompute_from') }}::date as recompute_from
),

events as (
    select product_events.*
    from staging.product_events
    cross join settings
    where
        product_events.event_name not in ('session_start', 'session_end', 'heartbeat')
        and product_events.occurred_at >= (settings.recompute_from - 31)::timestamp at time zone 'UTC'
),

user_days as (
    select distinct
        user_id,
        (occurred_at at time zone 'UTC')::date as activity_date
    from events
),

-- Each active day keeps its user in MAU for 30 days; overlapping windows of one user are
-- merged into islands so that each user is counted once per day.
islands as (
    select
        user_id,
        activity_date,
        sum(case when activity_date - previous_date < 30 then 0 else 1 end) over (
            partition by user_id order by activity_date
        ) as island_number
    from (
        select
            user_id,
            activity_date,
            lag(activity_date) over (partition by user_id order by activity_date) as previous_date
        from user_days
    ) as ordered_days
),

island_bounds as (
    select
        min(activity_date) as first_day,
        max(activity_date) + 30 as end_day
    from islands
    group by user_id, island_number
),

mau_changes as (
    select
        first_day as change_date,
        1 as mau_change
    from island_bounds
    union all
    select
        end_day as change_date,
        -1 as mau_change
    from island_bounds
),

-- The first day with any product data, from all of history (not only the events this run
-- reads), so that an incremental run writes the same days as a full rebuild, quiet days and
-- days with signups but no activity included. The UTC date is taken of the earliest instant
-- (the same day as the earliest date), so that min() can read one entry of an index.
first_day as (
    select least(
        (select (min(occurred_at) at time zone 'UTC')::date from staging.product_events),
        (select (min(created_at) at time zone 'UTC')::date from staging.product_workspaces),
        (select (min(created_at) at time zone 'UTC')::date from staging.product_users)
    ) as activity_date
),

days as (
    select day_value::date as activity_date
    from settings
    cross join first_day
    cross join lateral generate_series(
        greatest(first_day.activity_date, settings.recompute_from - 31),
        -- Complete UTC days only: the day the interval ends in is still being written.
        date_trunc('day', settings.as_of at time zone 'UTC') - interval '1 day',
        interval '1 day'
    ) as day_value
),

daily_active as (
    select
        activity_date,
        count(*) as daily_active_users
    from user_days
    group by activity_date
),

mau_by_day as (
    select
        days.activity_date,
        sum(coalesce(sum(mau_changes.mau_change), 0)) over (order by days.activity_date) as monthly_active_users
    from days
    left join mau_changes
        on days.activity_date = mau_changes.change_date
    group by days.activity_date
),

workspace_signups as (
    select
        (product_workspaces.created_at at time zone 'UTC')::date as signup_date,
        count(*) as workspace_signups
    from staging.product_workspaces
    cross join settings
    where product_workspaces.created_at >= settings.recompute_from::timestamp at time zone 'UTC'
    group by signup_date
),

user_signups as (
    select
        (product_users.created_at at time zone 'UTC')::date as signup_date,
        count(*) as user_signups
    from staging.product_users
    cross join settings
    where product_users.created_at >= settings.recompute_from::timestamp at time zone 'UTC'
    group by signup_date
),

final as (
    select
        days.activity_date,
        coalesce(daily_active.daily_active_users, 0) as daily_active_users,
        mau_by_day.monthly_active_users,
        coalesce(daily_active.daily_active_users, 0)::numeric
        / nullif(mau_by_day.monthly_active_users, 0) as dau_mau_ratio,
        coalesce(workspace_signups.workspace_signups, 0) as workspace_signups,
        coalesce(user_signups.user_signups, 0) as user_signups
    from days
    inner join mau_by_day
        on days.activity_date = mau_by_day.activity_date
    cross join settings
    left join daily_active
        on days.activity_date = daily_active.activity_date
    left join workspace_signups
        on days.activity_date = workspace_signups.signup_date
    left join user_signups
        on days.activity_date = user_signups.signup_date
    where days.activity_date >= settings.recompute_from
)

select * from final
