{% from 'macros/timezones.sql' import utc_timestamp, is_local_time with context %}
-- Product users with timestamps in UTC; one row per user (latest extracted copy).
{% set rule = params.timezone_rule %}
with source as (
    select distinct on (id) *
    from raw_product.users
    order by id asc, _airbyte_extracted_at desc, _airbyte_raw_id asc
),

final as (
    select
        id as user_id,
        workspace_id,
        email,
        full_name,
        role,
        ip_address,
        {{ utc_timestamp('created_at', rule) }} as created_at,
        {{ utc_timestamp('last_seen_at', rule) }} as last_seen_at,
        {{ is_local_time(rule) }} as is_local_time_converted
    from source
)

select * from final
