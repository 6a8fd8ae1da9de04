-- AWS cost per UTC day, per active user (DAU from analytics.product_metrics_daily).
-- cost_per_active_user is null on a day without active users.
-- Days from the bound recompute_from up to the last complete UTC day are written.
with costs as (
    select * from staging.aws_costs_daily
    where
        cost_date >= {{ bind('recompute_from') }}::date
        and cost_date < ({{ bind('as_of') }}::timestamptz at time zone 'UTC')::date
),

product as (
    select * from analytics.product_metrics_daily
),

daily as (
    select
        cost_date,
        sum(cost_usd) as total_cost_usd,
        count(distinct service) as services,
        bool_or(is_estimated) as is_estimated
    from costs
    group by cost_date
),

final as (
    select
        daily.cost_date,
        daily.total_cost_usd,
        daily.services,
        daily.is_estimated,
        product.daily_active_users as active_users,
        product.monthly_active_users,
        daily.total_cost_usd / nullif(product.daily_active_users, 0) as cost_per_active_user
    from daily
    left join product
        on daily.cost_date = product.activity_date
)

select * from final
