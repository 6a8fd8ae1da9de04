-- Funnel drop-off by step: users who entered the funnel (first step between date_from and
-- date_to) and how many of them went on to reach each later step, in order, within the
-- conversion window after entering. Runs as the product-manager role and reads only the
-- product_events views. The funnel has at most 10 steps; the CTEs of missing steps are empty.
-- sqlfluff:indentation:template_blocks_indent:False
{% set max_steps = 10 %}
with settings as (
    select
        {{ bind('funnel_steps') }}::text[] as funnel_steps,
        {{ bind('date_from') }}::date as date_from,
        {{ bind('date_to') }}::date as date_to,
        {{ bind('segment') }}::text as segment,
        {{ bind('conversion_window_days') }}::integer as conversion_window_days,
        {{ bind('time_zone') }}::text as time_zone
),

events as (
    select * from product_events.events
),

workspaces as (
    select * from product_events.workspaces
),

steps as (
    select
        step.event_name,
        step.step_number::integer as step_number
    from settings
    cross join lateral unnest(settings.funnel_steps) with ordinality as step (event_name, step_number)
),

bounds as (
    select
        settings.date_from::timestamp at time zone settings.time_zone as entry_from,
        (settings.date_to + 1)::timestamp at time zone settings.time_zone as entry_until,
        (settings.date_to + 1 + settings.conversion_window_days)::timestamp at time zone settings.time_zone
            as events_until,
        make_interval(days => settings.conversion_window_days) as conversion_window
    from settings
),

funnel_events as (
    -- One row per event and funnel step it matches, for users of the segment.
    select
        events.user_id,
        steps.step_number,
        events.occurred_at
    from events
    inner join steps on events.event_name = steps.event_name
    left join workspaces on events.workspace_id = workspaces.workspace_id
    cross join settings
    cross join bounds
    where
        events.user_id is not null
        and events.occurred_at >= bounds.entry_from
        and events.occurred_at < bounds.events_until
        and (settings.segment = 'all' or workspaces.plan_tier = settings.segment)
),

step_1 as (
    select
        funnel_events.user_id,
        min(funnel_events.occurred_at) as entered_at,
        min(funnel_events.occurred_at) as reached_at
    from funnel_events
    cross join bounds
    where funnel_events.step_number = 1 and funnel_events.occurred_at < bounds.entry_until
    group by funnel_events.user_id
),
{% for step_number in range(2, max_steps + 1) %}
step_{{ step_number }} as (
    -- The first event of this step at or after the previous step, within the window.
    select
        previous.user_id,
        previous.entered_at,
        min(funnel_events.occurred_at) as reached_at
    from step_{{ step_number - 1 }} as previous
    inner join funnel_events
        on
            previous.user_id = funnel_events.user_id
            and funnel_events.step_number = {{ step_number }}
            and previous.reached_at <= funnel_events.occurred_at
    cross join bounds
    where funnel_events.occurred_at < previous.entered_at + bounds.conversion_window
    group by previous.user_id, previous.entered_at
),
{% endfor %}
reached as (
    {% for step_number in range(1, max_steps + 1) %}
    select
        {{ step_number }} as step_number,
        count(*) as reached_users
    from step_{{ step_number }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

counted as (
    select
        steps.step_number,
        steps.event_name,
        reached.reached_users,
        lag(reached.reached_users) over (order by steps.step_number) as previous_users,
        first_value(reached.reached_users) over (order by steps.step_number) as entered_users
    from steps
    inner join reached on steps.step_number = reached.step_number
),

final as (
    select
        step_number,
        event_name,
        reached_users,
        round(reached_users::numeric / nullif(previous_users, 0), 4) as conversion_from_previous,
        round(reached_users::numeric / nullif(entered_users, 0), 4) as conversion_from_first,
        coalesce(previous_users - reached_users, 0) as dropped_users
    from counted
)

select * from final
order by step_number
