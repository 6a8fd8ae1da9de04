{% from 'macros/timezones.sql' import utc_timestamp, is_local_time with context %}
{% from 'macros/staging.sql' import latest_rows, quarantine_columns with context %}
-- Product events in UTC, one row per event id. Rows written as local wall-clock time are
-- converted (see timezone_corrections in include/config/metrics.yml) and flagged for the
-- conversion report. An event without an id, time, user or workspace is quarantined.
{% set rule = params.timezone_rule %}
-- Events from one day before the bound recompute_from (at UTC midnight) are rewritten; a
-- raw row is read two days earlier because its stored wall-clock time may be local time.
-- Rows without a time belong to no day and are read, and quarantined, on every run.
with source as (
    {{ latest_rows(
        'raw_product.events',
        'id',
        '_airbyte_extracted_at desc, _airbyte_raw_id asc',
        filter="occurred_at >= " ~ bind('recompute_from') ~ "::date - 2 or occurred_at is null"
    ) }}
),

converted as (
    select
        id as event_id,
        workspace_id,
        user_id,
        lower(event_name) as event_name,
        properties,
        {{ utc_timestamp('occurred_at', rule) }} as occurred_at,
        {{ is_local_time(rule) }} as is_local_time_converted,
        {{ quarantine_columns(
            "case
                when id is null then 'missing id'
                when occurred_at is null then 'missing occurred_at'
                when user_id is null then 'missing user'
                when workspace_id is null then 'missing workspace'
            end",
            'id'
        ) }}
    from source
),

final as (
    select * from converted
    where
        _rejection_reason is not null
        or occurred_at >= ({{ bind('recompute_from') }}::date - 1)::timestamp at time zone 'UTC'
)

select * from final
