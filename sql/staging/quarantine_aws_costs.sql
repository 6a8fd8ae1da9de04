-- AWS cost rows that cannot be used, with the reason (partition of staging.quarantine).
with validated as (
    select * from staging.aws_costs_daily
),

final as (
    select
        'aws_cost'::text as source_system,
        'raw_aws_cost.cost_and_usage'::text as source_table,
        raw_id::text as raw_id,
        (coalesce(cost_date::text, '?') || '/' || coalesce(service, '?'))::text as record_key,
        rejection_reason::text as reason,
        extracted_at
    from validated
    where rejection_reason is not null
)

select * from final
