-- The churn-definition experiment: per month, MRR and churn under each churn timing side by
-- side, in the reporting currency, on the same data. The configured timing is the one the
-- other analytics tables use; this table shows what the other two would report. Months from
-- the bound recompute_from to the open month are written (the month before is computed for
-- the churn of the first one).
{% from 'macros/mrr.sql' import rate_to_reporting, snapshot_months, states_in_window, subscription_mrr with context %}
{% set timings = ['ended', 'scheduled', 'paid_through'] %}
with settings as (
    select
        {{ bind('reporting_time_zone') }}::text as time_zone,
        lower({{ bind('reporting_currency') }}::text) as reporting_currency,
        {{ bind('discount_policy') }}::text as discount_policy,
        {{ bind('as_of') }}::timestamptz as as_of,
        {{ bind('recompute_from') }}::date as recompute_from,
        ({{ bind('recompute_from') }}::date - interval '1 month')::date as window_start,
        ({{ bind('recompute_from') }}::date - interval '1 month')
        at time zone {{ bind('reporting_time_zone') }}::text as window_start_at
),

states as (
    {{ states_in_window() }}
),

currencies as (
    select * from staging.currencies
),

fx_rates as (
    select * from staging.fx_rates_monthly
),

months as (
    {{ snapshot_months() }}
),

{% for timing in timings %}
    mrr_{{ timing }} as (
        select
            '{{ timing }}'::text as churn_timing,
            timing_mrr.*
        from ({{ subscription_mrr(timing) }}) as timing_mrr
    ),

{% endfor %}
all_timings as (
    {% for timing in timings %}
        select * from mrr_{{ timing }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

customer_mrr as (
    select
        all_timings.churn_timing,
        all_timings.month_start,
        all_timings.customer_id,
        sum(
            all_timings.mrr_minor / currencies.minor_units_per_unit
            * {{ rate_to_reporting('all_timings.currency') }}
        ) as mrr
    from all_timings
    cross join settings
    inner join currencies
        on all_timings.currency = currencies.currency
    left join fx_rates as currency_rate
        on
            all_timings.month_start = currency_rate.month_start
            and all_timings.currency = currency_rate.currency
    left join fx_rates as reporting_rate
        on
            all_timings.month_start = reporting_rate.month_start
            and settings.reporting_currency = reporting_rate.currency
    group by all_timings.churn_timing, all_timings.month_start, all_timings.customer_id
),

customers as (
    select
        churn_timing,
        customer_id,
        min(month_start) as first_month
    from customer_mrr
    group by churn_timing, customer_id
),

dense as (
    select
        customers.churn_timing,
        customers.customer_id,
        months.month_start,
        coalesce(customer_mrr.mrr, 0) as mrr,
        coalesce(
            lag(customer_mrr.mrr) over (
                partition by customers.churn_timing, customers.customer_id order by months.month_start
            ),
            0
        ) as previous_mrr
    from customers
    inner join months
        on customers.first_month <= months.month_start
    left join customer_mrr
        on
            customers.churn_timing = customer_mrr.churn_timing
            and customers.customer_id = customer_mrr.customer_id
            and months.month_start = customer_mrr.month_start
),

final as (
    select
        month_start,
        {% for timing in timings %}
            sum(mrr) filter (where churn_timing = '{{ timing }}') as {{ timing }}_mrr,
            count(*) filter (
                where churn_timing = '{{ timing }}' and mrr = 0 and previous_mrr > 0
            ) as {{ timing }}_churned_customers,
            coalesce(
                sum(previous_mrr) filter (where churn_timing = '{{ timing }}' and mrr = 0 and previous_mrr > 0), 0
            ) as {{ timing }}_churned_mrr{% if not loop.last %},{% endif %}
        {% endfor %}
    from dense
    where month_start >= (select settings.recompute_from from settings)
    group by month_start
)

select * from final
