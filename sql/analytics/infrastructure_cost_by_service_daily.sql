-- AWS cost per UTC day and service, with the service's share of the day's total.
-- Days from the bound recompute_from up to the last complete UTC day are written.
with costs as (
    select * from staging.aws_costs_daily
    where
        cost_date >= {{ bind('recompute_from') }}::date
        and cost_date < ({{ bind('as_of') }}::timestamptz at time zone 'UTC')::date
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
