-- One row per workspace and UTC month in which it was active: any product event other than
-- session_start, session_end and heartbeat, whatever the workspace's plan tier. A run writes
-- the months from the bound recompute_from (product domain) to the UTC month of its data
-- interval end.
-- staging.product_events rewrites every event from one day before recompute_from, and an
-- event that arrives or changes in a month always moves the product recompute_from back to it
-- (see saas_metrics.incremental), so no month before the window can have changed.
with settings as (
    select
        {{ bind('recompute_from') }}::date as recompute_from,
        date_trunc('month', ({{ bind('as_of') }}::timestamptz - interval '1 microsecond') at time zone 'UTC')
        + interval '1 month' as window_end
),

events as (
    select
        product_events.workspace_id,
        product_events.occurred_at
    from staging.product_events
    cross join settings
    where
        product_events.event_name not in ('session_start', 'session_end', 'heartbeat')
        and product_events.occurred_at >= settings.recompute_from::timestamp at time zone 'UTC'
        and product_events.occurred_at < settings.window_end at time zone 'UTC'
),

final as (
    select distinct
        workspace_id,
        date_trunc('month', occurred_at at time zone 'UTC')::date as month_start
    from events
)

select * from final
