-- Monthly MRR, ARR, paying customers and the MRR bridge, per currency basis and currency.
-- The bridge holds for every row: starting_mrr + new + reactivation + expansion
-- - contraction - churn = mrr. Ratios divide numerics and are null for a zero denominator.
with settings as (
    select
        {{ bind('reporting_time_zone') }}::text as time_zone,
        {{ bind('as_of') }}::timestamptz as as_of,
        {{ bind('recompute_from') }}::date as recompute_from
),

customer_mrr as (
    select customer_mrr_monthly.*
    from analytics.customer_mrr_monthly
    cross join settings
    where
        customer_mrr_monthly.month_start >= settings.recompute_from
        and customer_mrr_monthly.month_start <= date_trunc(
            'month', (settings.as_of - interval '1 microsecond') at time zone settings.time_zone
        )::date
),

aggregated as (
    select
        month_start,
        currency_basis,
        currency,
        bool_or(is_provisional) as is_provisional,
        max(snapshot_at) as snapshot_at,
        max(as_of) as as_of,
        sum(previous_mrr) as starting_mrr,
        sum(mrr) as mrr,
        count(*) filter (where mrr > 0) as paying_customers,
        count(*) filter (where previous_mrr > 0) as starting_customers,
        count(*) filter (where movement = 'new') as new_customers,
        coalesce(sum(mrr_change) filter (where movement = 'new'), 0) as new_mrr,
        count(*) filter (where movement = 'expansion') as expansion_customers,
        coalesce(sum(mrr_change) filter (where movement = 'expansion'), 0) as expansion_mrr,
        count(*) filter (where movement = 'contraction') as contraction_customers,
        coalesce(-sum(mrr_change) filter (where movement = 'contraction'), 0) as contraction_mrr,
        count(*) filter (where movement = 'churn') as churned_customers,
        coalesce(-sum(mrr_change) filter (where movement = 'churn'), 0) as churned_mrr,
        count(*) filter (where movement = 'reactivation') as reactivated_customers,
        coalesce(sum(mrr_change) filter (where movement = 'reactivation'), 0) as reactivation_mrr
    from customer_mrr
    group by month_start, currency_basis, currency
),

final as (
    select
        month_start,
        currency_basis,
        currency,
        is_provisional,
        snapshot_at,
        as_of,
        starting_mrr,
        mrr,
        mrr * 12 as arr,
        paying_customers,
        starting_customers,
        mrr / nullif(paying_customers, 0)::numeric as arpa,
        new_customers,
        new_mrr,
        expansion_customers,
        expansion_mrr,
        contraction_customers,
        contraction_mrr,
        churned_customers,
        churned_mrr,
        reactivated_customers,
        reactivation_mrr,
        new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr as net_new_mrr
    from aggregated
)

select * from final
