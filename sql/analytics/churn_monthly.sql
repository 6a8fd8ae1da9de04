-- Churn rates and the quick ratio per month, from the MRR bridge in the reporting currency.
-- For month M the base is the end of M-1. Ratios are null when their denominator is 0.
with monthly as (
    select * from analytics.mrr_monthly
    where currency_basis = 'reporting'
),

final as (
    select
        month_start,
        currency,
        is_provisional,
        starting_customers,
        churned_customers,
        starting_mrr,
        churned_mrr,
        contraction_mrr,
        expansion_mrr,
        reactivation_mrr,
        new_mrr,
        churned_customers::numeric / nullif(starting_customers, 0) as logo_churn_rate,
        (churned_mrr + contraction_mrr) / nullif(starting_mrr, 0) as gross_mrr_churn_rate,
        (churned_mrr + contraction_mrr - expansion_mrr - reactivation_mrr)
        / nullif(starting_mrr, 0) as net_mrr_churn_rate,
        (new_mrr + expansion_mrr) / nullif(churned_mrr + contraction_mrr, 0) as quick_ratio
    from monthly
)

select * from final
