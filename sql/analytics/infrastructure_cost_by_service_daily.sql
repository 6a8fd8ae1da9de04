-- AWS cost per UTC day and service, with the service's share of the day's total.
with costs as (
    select * from staging.aws_costs_daily
    where rejection_reason is null
),

by_service as (
    select
        cost_date,
        service,
        sum(cost_usd) as cost_usd
    from costs
    group by cost_date, service
),

final as (
    select
        cost_date,
        service,
        cost_usd,
        cost_usd / nullif(sum(cost_usd) over (partition by cost_date), 0) as share_of_day
    from by_service
)

select * from final
