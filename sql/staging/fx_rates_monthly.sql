-- Monthly FX rates to USD as finance maintains them, one row per month and currency.
with source as (
    select * from raw_finance.fx_rates_monthly
),

final as (
    select distinct on (month_start, currency)
        date_trunc('month', month)::date as month_start,
        lower(currency)::text as currency,
        rate_to_usd::numeric as rate_to_usd
    from source
    where rate_to_usd is not null
    order by month_start asc, currency asc, rate_to_usd asc
)

select * from final
