{#
    Building blocks shared by the models that compute MRR at month-end snapshots. The caller
    defines the CTEs `settings` (time_zone, discount_policy, as_of, window_start) and `states`
    (core.subscription_item_states).
#}

{#
    One row per month from settings.window_start (or the first state's month, if later) to the
    month open at settings.as_of.
#}
{% macro snapshot_months() -%}
    select
        month_local::date as month_start,
        least((month_local + interval '1 month') at time zone settings.time_zone, settings.as_of) as snapshot_at,
        (month_local + interval '1 month') at time zone settings.time_zone > settings.as_of as is_provisional,
        settings.as_of
    from settings
    cross join (select min(valid_from) as first_valid_from from states) as first_state
    cross join lateral generate_series(
        greatest(
            date_trunc('month', first_state.first_valid_from at time zone settings.time_zone),
            settings.window_start::timestamp
        ),
        date_trunc('month', (settings.as_of - interval '1 microsecond') at time zone settings.time_zone),
        interval '1 month'
    ) as month_local
{%- endmacro %}

{#
    MRR in minor units per month, customer, subscription and currency, net of discounts.
    `churn_timing` decides which states count at a snapshot:
    - ended: the state in force at the snapshot;
    - scheduled: as ended, but a state whose cancellation was requested before the snapshot
      counts 0;
    - paid_through: as ended, but an immediately cancelled subscription keeps its last state
      until the end of the period it was paid for.
#}
{% macro subscription_mrr(churn_timing) -%}
    select
        month_start,
        snapshot_at,
        is_provisional,
        customer_id,
        subscription_id,
        currency,
        greatest(
            gross_mrr_minor * (1 - case when is_discount_active then coalesce(discount_percent_off, 0) else 0 end / 100)
            - case
                when is_discount_active then coalesce(discount_amount_off_minor, 0) / months_in_interval
                else 0
            end,
            0
        ) as mrr_minor
    from (
        select
            snapshots.*,
            coalesce(
                snapshots.discount_start_at <= snapshots.snapshot_at
                and (snapshots.discount_end_at is null or snapshots.discount_end_at > snapshots.snapshot_at)
                and (settings.discount_policy = 'all_active' or snapshots.discount_duration = 'forever'),
                false
            ) as is_discount_active
        from (
            select
                months.month_start,
                months.snapshot_at,
                months.is_provisional,
                states.customer_id,
                states.subscription_id,
                states.currency,
                sum(states.gross_mrr_minor) as gross_mrr_minor,
                max(states.months_in_interval) as months_in_interval,
                max(states.discount_percent_off) as discount_percent_off,
                max(states.discount_amount_off_minor) as discount_amount_off_minor,
                max(states.discount_duration) as discount_duration,
                max(states.discount_start_at) as discount_start_at,
                max(states.discount_end_at) as discount_end_at
            from months
            inner join states
                on
                    months.snapshot_at > states.valid_from
                    {%- if churn_timing == 'paid_through' %}
                        and (states.paid_through_valid_to is null or months.snapshot_at <= states.paid_through_valid_to)
                    {%- else %}
                        and (states.valid_to is null or months.snapshot_at <= states.valid_to)
                    {%- endif %}
            where
                states.is_revenue_status
                {%- if churn_timing == 'scheduled' %}
                    and not coalesce(states.canceled_at < months.snapshot_at, false)
                {%- endif %}
            group by
                months.month_start,
                months.snapshot_at,
                months.is_provisional,
                states.customer_id,
                states.subscription_id,
                states.currency
        ) as snapshots
        cross join settings
    ) as discounted
{%- endmacro %}

{#
    Rate that converts an amount in `currency` to settings.reporting_currency, from the joined
    rows `currency_rate` and `reporting_rate` of staging.fx_rates_monthly (rates to USD).
    Null when a rate that is needed is missing.
#}
{% macro rate_to_reporting(currency) -%}
    case
        when {{ currency }} = settings.reporting_currency then 1::numeric
        when {{ currency }} = 'usd' then 1 / reporting_rate.rate_to_usd
        when settings.reporting_currency = 'usd' then currency_rate.rate_to_usd
        else currency_rate.rate_to_usd / reporting_rate.rate_to_usd
    end
{%- endmacro %}

{#
    The states that can be in force at a snapshot of the computed months. Every snapshot lies
    after settings.window_start_at, the first instant of the month before recompute_from, so
    snapshot_months starts at the month of the first state read, which changes no row because
    no state is in force at the snapshots between. The model needs a `settings` CTE with
    window_start_at.
    NOTE: a bound on valid_from (no state starting after as_of) would read a little less. But
    on a table without statistics it lowers the row estimate, and the full rebuild then picks a
    plan twice as slow (measured at 48 demo months).
#}
{% macro states_in_window() -%}
    select subscription_item_states.*
    from core.subscription_item_states
    cross join settings
    where
        subscription_item_states.valid_to is null
        or subscription_item_states.valid_to > settings.window_start_at
        or subscription_item_states.paid_through_valid_to is null
        or subscription_item_states.paid_through_valid_to > settings.window_start_at
{%- endmacro %}
