-- Retention by cohort age across cohorts, weighted by cohort size (logo) and by cohort MRR
-- (revenue): sum of retained over sum of starting, over the cohorts that reached that age.
with cohorts as (
    select * from analytics.cohort_retention
),

final as (
    select
        months_since_cohort,
        count(*) as cohorts,
        sum(cohort_customers) as cohort_customers,
        sum(retained_customers) as retained_customers,
        sum(retained_customers)::numeric / nullif(sum(cohort_customers), 0) as logo_retention,
        sum(retained_mrr) / nullif(sum(cohort_mrr), 0) as revenue_retention
    from cohorts
    group by months_since_cohort
)

select * from final
