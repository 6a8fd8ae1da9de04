-- Monthly FX rates to USD as finance maintains them, one row per month and currency. Copies of
-- the same rate count once. A rate that is missing, not positive or for an unknown currency
-- is quarantined, and so is every rate of a month and currency that has two different ones.
-- The engine then stops with "Missing FX rate" for that month rather than pick one of them.
-- raw_finance is a finance-maintained table, not an Airbyte stream, so its rows carry no raw id.
with source as (
    select
        date_trunc('month', month)::date as month_start,
        lower(currency)::text as currency,
        rate_to_usd::numeric as rate_to_usd
    from raw_finance.fx_rates_monthly
),

distinct_rates as (
    select
        month_start,
        currency,
        rate_to_usd
    from source
    group by month_start, currency, rate_to_usd
),

checked as (
    select
        distinct_rates.*,
        count(*) filter (where distinct_rates.rate_to_usd > 0) over (
            partition by distinct_rates.month_start, distinct_rates.currency
        ) as usable_rates,
        currencies.currency is not null as is_known_currency
    from distinct_rates
    left join staging.currencies as currencies
        on distinct_rates.currency = currencies.currency
),

final as (
    select
        month_start,
        currency,
        rate_to_usd,
        case
            when month_start is null then 'missing month'
            when currency is null then 'missing currency'
            when not is_known_currency then 'unknown currency ' || currency
            when rate_to_usd is null then 'missing rate'
            when rate_to_usd <= 0 then 'rate is not positive: ' || rate_to_usd
            when usable_rates > 1 then usable_rates || ' different rates for this month and currency'
        end as _rejection_reason,
        coalesce(month_start::text, 'null') || '/' || coalesce(currency, 'null') || '/'
        || coalesce(trim_scale(rate_to_usd)::text, 'null') as _record_key,
        null::text as _raw_id,
        null::timestamptz as _extracted_at
    from checked
)

select * from final
