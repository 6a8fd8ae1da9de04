{% from 'macros/timezones.sql' import utc_timestamp, is_local_time with context %}
-- Product events in UTC. Rows written as local wall-clock time are converted (see
-- timezone_corrections in include/config/metrics.yml) and flagged for the conversion report.
{% set rule = params.timezone_rule %}
-- Events from one day before the bound recompute_from (at UTC midnight) are rewritten; a
-- raw row is read two days earlier because its stored wall-clock time may be local time.
with source as (
    select * from raw_product.events
    where occurred_at >= {{ bind('recompute_from') }}::date - 2
),

converted as (
    select
        id as event_id,
        workspace_id,
        user_id,
        lower(event_name) as event_name,
        properties,
        {{ utc_timestamp('occurred_at', rule) }} as occurred_at,
        {{ is_local_time(rule) }} as is_local_time_converted
    from source
),

final as (
    select * from converted
    where occurred_at >= ({{ bind('recompute_from') }}::date - 1)::timestamp at time zone 'UTC'
)

select * from final
