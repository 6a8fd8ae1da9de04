{% from 'macros/staging.sql' import latest_rows, quarantine_columns with context %}
-- AWS Cost Explorer daily costs per service. Cost Explorer's period end is exclusive, so a
-- daily row covers one date. A day is first extracted as an estimate of the cost so far and
-- later again with the final figure; only the latest extraction per day and service is kept.
-- A row without a daily period, a service or a USD cost is quarantined with its reason.
with source as (
    {{ latest_rows(
        'raw_aws_cost.cost_and_usage',
        'time_period_start, service',
        '_airbyte_extracted_at desc, _airbyte_raw_id asc',
        keyless='time_period_start is null or service is null'
    ) }}
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
        {{ quarantine_columns(
            "case
                when time_period_start is null or time_period_end is null then 'missing time period'
                when time_period_end <> time_period_start + 1
                    then 'not a daily period ' || time_period_start || '..' || time_period_end
                when service is null then 'missing service'
                when unblended_cost is null then 'missing cost'
                when coalesce(unit, 'missing') <> 'USD' then 'cost unit is not USD: ' || coalesce(unit, 'missing')
            end",
            "time_period_start::text || '/' || service"
        ) }}
    from source
)

select * from final
