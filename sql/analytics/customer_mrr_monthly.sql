-- Customer MRR per month with its movement, in each billing currency ("native") and converted
-- to the reporting currency ("reporting"). A month's MRR is the end-of-month snapshot: the
-- states in force at the first instant of the next month in the reporting time zone, or at the
-- end of the run's data interval for the month still open (marked provisional).
-- Only the months from the bound recompute_from to the open month are computed; the month
-- before them is computed too, for the movements of the first one, and earlier months are
-- read back from this table only for each customer's first active month.
{% from 'macros/mrr.sql' import rate_to_reporting, snapshot_months, states_in_window, subscription_mrr with context %}
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

subscription_mrr as (
    {{ subscription_mrr(params.churn_timing) }}
),

customer_currency_mrr as (
    select
        subscription_mrr.month_start,
        subscription_mrr.customer_id,
        subscription_mrr.currency,
        sum(subscription_mrr.mrr_minor) / currencies.minor_units_per_unit as mrr
    from subscription_mrr
    inner join currencies
        on subscription_mrr.currency = currencies.currency
    group by
        subscription_mrr.month_start,
        subscription_mrr.customer_id,
        subscription_mrr.currency,
        currencies.minor_units_per_unit
),

conversion as (
    select
        customer_currency_mrr.*,
        {{ rate_to_reporting('customer_currency_mrr.currency') }} as rate_to_reporting,
        settings.reporting_currency
    from customer_currency_mrr
    cross join settings
    left join fx_rates as currency_rate
        on
            customer_currency_mrr.month_start = currency_rate.month_start
            and customer_currency_mrr.currency = currency_rate.currency
    left join fx_rates as reporting_rate
        on
            customer_currency_mrr.month_start = reporting_rate.month_start
            and settings.reporting_currency = reporting_rate.currency
),

-- A missing rate fails the run: converting with 1.0 or dropping the customer would publish a
-- wrong total without anyone noticing.
checked_conversion as (
    select conversion.*
    from conversion
    where
        case
            when conversion.rate_to_reporting is null and conversion.mrr <> 0
                then analytics.raise_error(
                    'Missing FX rate for ' || upper(conversion.currency)
                    || ' to ' || upper(conversion.reporting_currency)
                    || ' in ' || to_char(conversion.month_start, 'YYYY-MM')
                    || ' (customer ' || conversion.customer_id || ' has MRR '
                    || round(conversion.mrr, 2)::text || '). Add the rate to raw_finance.fx_rates_monthly, '
                    || 'or, if the month has a rate, resolve why staging.quarantine rejected it (for example '
                    || 'two different rates for the month), and rerun.'
                )
            else true
        end
),

customer_mrr as (
    select
        'native'::text as currency_basis,
        currency,
        customer_id,
        month_start,
        mrr
    from customer_currency_mrr
    union all
    select
        'reporting'::text as currency_basis,
        reporting_currency as currency,
        customer_id,
        month_start,
        sum(mrr * coalesce(rate_to_reporting, 0)) as mrr
    from checked_conversion
    group by reporting_currency, customer_id, month_start
),

earlier_first_active as (
    select
        earlier_rows.currency_basis,
        earlier_rows.currency,
        earlier_rows.customer_id,
        min(earlier_rows.cohort_month) as first_active_month
    from analytics.customer_mrr_monthly as earlier_rows
    cross join settings
    where earlier_rows.month_start < settings.recompute_from
    group by earlier_rows.currency_basis, earlier_rows.currency, earlier_rows.customer_id
),

window_spans as (
    select
        currency_basis,
        currency,
        customer_id,
        min(month_start) filter (where mrr > 0) as first_active_month
    from customer_mrr
    group by currency_basis, currency, customer_id
    having min(month_start) filter (where mrr > 0) is not null
),

customer_spans as (
    select
        window_spans.currency_basis,
        window_spans.currency,
        window_spans.customer_id,
        least(window_spans.first_active_month, earlier_first_active.first_active_month) as first_active_month
    from window_spans
    left join earlier_first_active
        on
            window_spans.currency_basis = earlier_first_active.currency_basis
            and window_spans.currency = earlier_first_active.currency
            and window_spans.customer_id = earlier_first_active.customer_id
),

dense as (
    select
        spans.currency_basis,
        spans.currency,
        spans.customer_id,
        spans.first_active_month,
        months.month_start,
        months.snapshot_at,
        months.is_provisional,
        months.as_of,
        coalesce(customer_mrr.mrr, 0) as mrr
    from customer_spans as spans
    inner join months
        on spans.first_active_month <= months.month_start
    left join customer_mrr
        on
            spans.currency_basis = customer_mrr.currency_basis
            and spans.currency = customer_mrr.currency
            and spans.customer_id = customer_mrr.customer_id
            and months.month_start = customer_mrr.month_start
),

with_previous as (
    select
        dense.*,
        coalesce(
            lag(dense.mrr) over (
                partition by dense.currency_basis, dense.currency, dense.customer_id
                order by dense.month_start
            ),
            0
        ) as previous_mrr
    from dense
),

final as (
    select
        with_previous.month_start,
        with_previous.currency_basis,
        with_previous.currency,
        with_previous.customer_id::text as customer_id,
        with_previous.mrr,
        with_previous.previous_mrr,
        with_previous.mrr - with_previous.previous_mrr as mrr_change,
        case
            when with_previous.mrr > 0 and with_previous.month_start = with_previous.first_active_month then 'new'
            when with_previous.mrr = 0 and with_previous.previous_mrr > 0 then 'churn'
            when with_previous.mrr > 0 and with_previous.previous_mrr = 0 then 'reactivation'
            when with_previous.mrr > with_previous.previous_mrr then 'expansion'
            when with_previous.mrr < with_previous.previous_mrr then 'contraction'
            else 'none'
        end as movement,
        with_previous.first_active_month as cohort_month,
        with_previous.is_provisional,
        with_previous.snapshot_at,
        with_previous.as_of
    from with_previous
    cross join settings
    where
        (with_previous.mrr > 0 or with_previous.previous_mrr > 0)
        and with_previous.month_start >= settings.recompute_from
)

select * from final
