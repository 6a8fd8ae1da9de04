-- Net and gross revenue retention per month, in the reporting currency.
-- Month over month: NRR = (start + expansion - contraction - churn) / start and
-- GRR = (start - contraction - churn) / start, excluding new and reactivated MRR.
-- Trailing twelve months: NDR = MRR at the end of M from the customers paying at the end of
-- M-12, divided by their MRR at the end of M-12; GDR caps each customer's end MRR at its base.
with settings as (
    select
        {{ bind('recompute_from') }}::date as recompute_from,
        ({{ bind('recompute_from') }}::date - interval '12 months')::date as base_window_start,
        date_trunc(
            'month', ({{ bind('as_of') }}::timestamptz - interval '1 microsecond') at time zone
            {{ bind('reporting_time_zone') }}::text
        )::date as open_month
),

-- The written months and the base months twelve months before them. No other month is read.
customer_mrr as (
    select customer_mrr_monthly.*
    from analytics.customer_mrr_monthly
    cross join settings
    where
        customer_mrr_monthly.currency_basis = 'reporting'
        and customer_mrr_monthly.month_start between settings.base_window_start and settings.open_month
),

monthly as (
    select mrr_monthly.*
    from analytics.mrr_monthly
    cross join settings
    where
        mrr_monthly.currency_basis = 'reporting'
        and mrr_monthly.month_start between settings.recompute_from and settings.open_month
),

base_customers as (
    select
        customer_id,
        month_start as base_month,
        mrr as base_mrr
    from customer_mrr
    where mrr > 0
),

trailing_twelve_months as (
    select
        monthly.month_start,
        count(base_customers.customer_id) as base_customers,
        count(later.customer_id) filter (where later.mrr > 0) as retained_customers,
        sum(base_customers.base_mrr) as base_mrr,
        sum(coalesce(later.mrr, 0)) as retained_mrr,
        sum(least(coalesce(later.mrr, 0), base_customers.base_mrr)) as retained_mrr_capped
    from monthly
    inner join base_customers
        on base_customers.base_month = (monthly.month_start - interval '12 months')::date
    left join customer_mrr as later
        on
            base_customers.customer_id = later.customer_id
            and monthly.month_start = later.month_start
    group by monthly.month_start
),

final as (
    select
        monthly.month_start,
        monthly.currency,
        monthly.is_provisional,
        monthly.starting_mrr,
        (monthly.starting_mrr + monthly.expansion_mrr - monthly.contraction_mrr - monthly.churned_mrr)
        / nullif(monthly.starting_mrr, 0) as nrr_month_over_month,
        (monthly.starting_mrr - monthly.contraction_mrr - monthly.churned_mrr)
        / nullif(monthly.starting_mrr, 0) as grr_month_over_month,
        trailing_twelve_months.base_customers as trailing_12m_base_customers,
        trailing_twelve_months.retained_customers as trailing_12m_retained_customers,
        trailing_twelve_months.base_mrr as trailing_12m_base_mrr,
        trailing_twelve_months.retained_mrr as trailing_12m_retained_mrr,
        trailing_twelve_months.retained_mrr / nullif(trailing_twelve_months.base_mrr, 0) as ndr_trailing_12m,
        trailing_twelve_months.retained_mrr_capped / nullif(trailing_twelve_months.base_mrr, 0) as gdr_trailing_12m
    from monthly
    left join trailing_twelve_months
        on monthly.month_start = trailing_twelve_months.month_start
)

select * from final
