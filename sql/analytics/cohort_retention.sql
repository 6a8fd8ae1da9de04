-- Billing cohort retention, dense: one row per cohort and month from the cohort month to the
-- last computed month, with 0 (never a missing row) when no customer of the cohort pays.
-- Cohort = month of the customer's first MRR ("new" movement). Reactivated customers count
-- again in the months they pay.
with customer_mrr as (
    select * from analytics.customer_mrr_monthly
    where currency_basis = 'reporting'
),

months as (
    select distinct month_start from customer_mrr
),

cohort_members as (
    select
        customer_id,
        cohort_month,
        mrr as cohort_month_mrr
    from customer_mrr
    where movement = 'new'
),

cohorts as (
    select
        cohort_month,
        count(*) as cohort_customers,
        sum(cohort_month_mrr) as cohort_mrr
    from cohort_members
    group by cohort_month
),

activity as (
    select
        cohort_members.cohort_month,
        customer_mrr.month_start,
        count(*) filter (where customer_mrr.mrr > 0) as retained_customers,
        sum(customer_mrr.mrr) as retained_mrr
    from cohort_members
    inner join customer_mrr
        on cohort_members.customer_id = customer_mrr.customer_id
    group by cohort_members.cohort_month, customer_mrr.month_start
),

final as (
    select
        cohorts.cohort_month,
        months.month_start,
        (
            (extract(year from months.month_start) - extract(year from cohorts.cohort_month)) * 12
            + extract(month from months.month_start) - extract(month from cohorts.cohort_month)
        )::integer as months_since_cohort,
        cohorts.cohort_customers,
        coalesce(activity.retained_customers, 0) as retained_customers,
        cohorts.cohort_mrr,
        coalesce(activity.retained_mrr, 0) as retained_mrr,
        coalesce(activity.retained_customers, 0)::numeric / nullif(cohorts.cohort_customers, 0) as logo_retention,
        coalesce(activity.retained_mrr, 0) / nullif(cohorts.cohort_mrr, 0) as revenue_retention
    from cohorts
    inner join months
        on cohorts.cohort_month <= months.month_start
    left join activity
        on
            cohorts.cohort_month = activity.cohort_month
            and months.month_start = activity.month_start
)

select * from final
