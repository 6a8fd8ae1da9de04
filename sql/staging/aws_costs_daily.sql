-- AWS Cost Explorer daily costs per service, with the reason a row cannot be used (null
-- when it can). Cost Explorer's period end is exclusive, so a daily row covers one date.
with source as (
    select * from raw_aws_cost.cost_and_usage
),

final as (
    select
        _airbyte_raw_id as raw_id,
        _airbyte_extracted_at as extracted_at,
        time_period_start as cost_date,
        time_period_end,
        service,
        unblended_cost as cost_usd,
        usage_quantity,
        unit,
        coalesce(estimated, false) as is_estimated,
        case
            when time_period_start is null or time_period_end is null then 'missing time period'
            when time_period_end <> time_period_start + 1
                then 'not a daily period ' || time_period_start || '..' || time_period_end
            when service is null then 'missing service'
            when unblended_cost is null then 'missing cost'
            when coalesce(unit, 'missing') <> 'USD' then 'cost unit is not USD: ' || coalesce(unit, 'missing')
        end as rejection_reason
    from source
)

select * from final
