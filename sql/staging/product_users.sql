{% from 'macros/timezones.sql' import utc_timestamp, is_local_time with context %}
{% from 'macros/staging.sql' import changed_keys, latest_rows, quarantine_columns with context %}
-- Product users with timestamps in UTC; one row per user (latest extracted copy). A user
-- without an id or a workspace is quarantined. A merge: only the users with a row extracted
-- after the plan's changed_since.
{% set rule = params.timezone_rule %}
with source as (
    {{ latest_rows(
        'raw_product.users',
        'id',
        '_airbyte_extracted_at desc, _airbyte_raw_id asc',
        changed=changed_keys('raw_product.users', 'id')
    ) }}
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
        {{ is_local_time(rule) }} as is_local_time_converted,
        {{ quarantine_columns(
            "case when id is null then 'missing id' when workspace_id is null then 'missing workspace' end",
            'id'
        ) }}
    from source
)

select * from final
