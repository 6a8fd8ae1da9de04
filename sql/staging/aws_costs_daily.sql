-- AWS Cost Explorer daily costs per service, with the reason a row cannot be used (null
-- when it can). Cost Explorer's period end is exclusive, so a daily row covers one date.
-- A day is first extracted as an estimate of the cost so far and later again with the final
-- figure; only the latest extraction per day and service is kept.
with extracted as (
    select
        *,
        row_number() over (
            partition by time_period_start, service
            order by _airbyte_extracted_at desc, _airbyte_raw_id asc
        ) as extraction_rank
    from raw_aws_cost.cost_and_usage
),

source as (
    select * from extracted
    where extraction_rank = 1
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
