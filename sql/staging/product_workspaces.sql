{% from 'macros/timezones.sql' import utc_timestamp, is_local_time with context %}
{% from 'macros/staging.sql' import latest_rows, quarantine_columns with context %}
-- Product workspaces with timestamps in UTC; one row per workspace (latest extracted copy).
-- A workspace without an id or creation time is quarantined.
{% set rule = params.timezone_rule %}
with source as (
    {{ latest_rows(
        'raw_product.workspaces',
        'id',
        '_airbyte_extracted_at desc, _airbyte_raw_id asc'
    ) }}
),

final as (
    select
        id as workspace_id,
        name as workspace_name,
        stripe_customer_id as customer_id,
        lower(plan_tier) as plan_tier,
        country,
        {{ utc_timestamp('created_at', rule) }} as created_at,
        {{ utc_timestamp('updated_at', rule) }} as updated_at,
        {{ is_local_time(rule) }} as is_local_time_converted,
        {{ quarantine_columns(
            "case when id is null then 'missing id' when created_at is null then 'missing created_at' end",
            'id'
        ) }}
    from source
)

select * from final
