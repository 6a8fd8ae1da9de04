-- The engine's ARR of each closed month (reporting basis, converted to USD with the month's FX
-- rate) against the ARR finance reported for that month in raw_finance.arr_reported. A month
-- finance has not reported has a null finance_arr_usd, difference and ratio, never 0. When
-- finance reported a month more than once, the latest report (by reported_at) counts.
with settings as (
    select
        {{ bind('reporting_time_zone') }}::text as time_zone,
        {{ bind('as_of') }}::timestamptz as as_of
),

open_month as (
    select
        date_trunc(
            'month', (settings.as_of - interval '1 microsecond') at time zone settings.time_zone
        )::date as month_start
    from settings
),

engine as (
    select
        monthly.month_start,
        monthly.currency,
        monthly.arr
    from analytics.mrr_monthly as monthly
    cross join open_month
    where
        monthly.currency_basis = 'reporting'
        and not monthly.is_provisional
        and monthly.month_start < open_month.month_start
),

fx_rates as (
    select * from staging.fx_rates_monthly
),

engine_usd as (
    select
        engine.month_start,
        engine.currency,
        engine.arr,
        case
            when engine.currency = 'usd' then engine.arr
            else engine.arr * fx_rates.rate_to_usd
        end as arr_usd
    from engine
    left join fx_rates
        on
            engine.month_start = fx_rates.month_start
            and engine.currency = fx_rates.currency
),

finance_reports as (
    select distinct on (report_month)
        date_trunc('month', reports.month)::date as report_month,
        reports.reported_arr_usd,
        reports.reported_at
    from raw_finance.arr_reported as reports
    cross join open_month
    where
        reports.month is not null
        and reports.reported_arr_usd is not null
        and date_trunc('month', reports.month)::date < open_month.month_start
    order by report_month asc, reports.reported_at desc nulls last, reports.reported_arr_usd asc
),

final as (
    select
        coalesce(engine_usd.month_start, finance_reports.report_month) as month_start,
        engine_usd.currency as reporting_currency,
        engine_usd.arr as engine_arr,
        engine_usd.arr_usd as engine_arr_usd,
        finance_reports.reported_arr_usd::numeric as finance_arr_usd,
        finance_reports.reported_at as finance_reported_at,
        finance_reports.report_month is not null as has_finance_report,
        engine_usd.arr_usd - finance_reports.reported_arr_usd as difference_usd,
        (engine_usd.arr_usd - finance_reports.reported_arr_usd)
        / nullif(finance_reports.reported_arr_usd, 0) as difference_ratio
    from engine_usd
    full outer join finance_reports
        on engine_usd.month_start = finance_reports.report_month
)

select * from final
