{% from 'macros/staging.sql' import extracted_by_plan with context %}
-- One row per subscription item state with its validity interval [valid_from, valid_to).
-- Each distinct subscription version starts a state that lasts until the next version of the
-- same subscription (valid_to is null for the latest one). History before a subscription's
-- first synced version is rebuilt from its non-proration invoice lines: each billed period
-- becomes an active state, cut off where the first version begins. Monthly-normalised amounts are kept
-- in the currency's minor unit at full numeric precision; discounts are applied per snapshot
-- in analytics.customer_mrr_monthly, because a coupon can expire in the middle of a state.
-- A merge by subscription: only the subscriptions in core.changed_subscriptions are rebuilt.
{#- A plain IN, which PostgreSQL joins to an index; on a full rebuild the table lists every subscription. #}
{%- macro is_rebuilt(column) -%}
    {{ column }} in (select changed.subscription_id from core.changed_subscriptions as changed)
{%- endmacro %}
with items as (
    select * from staging.stripe_subscription_items
    where {{ is_rebuilt('subscription_id') }}
),

-- Every distinct version (its latest copy) bounds the states, a quarantined one too, because a
-- rejected version still ends the state before it. A version without items bounds nothing.
raw_versions as (
    select distinct on (id, updated)
        id as subscription_id,
        to_timestamp(updated) as updated_at,
        lower(status) as status,
        items
    from raw_stripe.subscriptions
    where
        {{ extracted_by_plan() }}
        and id is not null
        and updated is not null
        and {{ is_rebuilt('id') }}
    order by id asc, updated asc, _airbyte_extracted_at desc, _airbyte_raw_id asc
),

validated_versions as (
    select
        subscription_id,
        updated_at,
        status
    from raw_versions
    -- One comparison, not two: PostgreSQL estimates a filter on an expression with a default
    -- selectivity, and two such filters made it expect a few versions and pick a nested loop
    -- that took a minute on a first run.
    where jsonb_array_length(case when jsonb_typeof(items -> 'data') = 'array' then items -> 'data' end) > 0
),

version_bounds as (
    select
        subscription_id,
        updated_at as valid_from,
        lead(updated_at) over subscription_versions as valid_to,
        lead(status) over subscription_versions as next_status
    from validated_versions
    window subscription_versions as (partition by subscription_id order by updated_at)
),

normalised as (
    select
        items.*,
        items.interval_count * case items.billing_interval
            when 'month' then 1::numeric
            when 'year' then 12::numeric
            when 'week' then 12::numeric / 52
            when 'day' then 12::numeric / 365
        end as months_in_interval,
        analytics.try_numeric(items.discount -> 'coupon' ->> 'percent_off') as discount_percent_off,
        analytics.try_numeric(items.discount -> 'coupon' ->> 'amount_off') as discount_amount_off_minor,
        lower(items.discount -> 'coupon' ->> 'currency') as discount_currency,
        items.discount -> 'coupon' ->> 'duration' as discount_duration,
        analytics.try_numeric(items.discount -> 'coupon' ->> 'duration_in_months') as discount_duration_in_months,
        to_timestamp(analytics.try_numeric(items.discount ->> 'start')) as discount_start_at,
        to_timestamp(analytics.try_numeric(items.discount ->> 'end')) as discount_end_at
    from items
),

version_states as (
    select
        'subscription_version'::text as state_source,
        normalised.subscription_id,
        normalised.subscription_item_id,
        normalised.customer_id,
        normalised.price_id,
        normalised.status,
        normalised.is_deleted,
        normalised.currency,
        normalised.unit_amount_minor,
        normalised.quantity,
        normalised.price_type,
        normalised.usage_type,
        normalised.billing_interval,
        normalised.interval_count,
        normalised.months_in_interval,
        case
            when normalised.price_type = 'recurring' and normalised.usage_type = 'licensed'
                then normalised.unit_amount_minor * normalised.quantity / normalised.months_in_interval
            else 0
        end as gross_mrr_minor,
        normalised.status in ('active', 'past_due') and not normalised.is_deleted as is_revenue_status,
        normalised.discount_percent_off,
        normalised.discount_amount_off_minor,
        normalised.discount_currency,
        normalised.discount_duration,
        normalised.discount_start_at,
        coalesce(
            normalised.discount_end_at,
            case
                when normalised.discount_duration = 'repeating'
                    -- Month arithmetic on UTC wall-clock time, so that the session TimeZone
                    -- cannot shift the result.
                    then (
                        (normalised.discount_start_at at time zone 'UTC')
                        + make_interval(months => normalised.discount_duration_in_months::integer)
                    ) at time zone 'UTC'
            end
        ) as discount_end_at,
        normalised.started_at,
        normalised.current_period_start_at,
        normalised.current_period_end_at,
        normalised.trial_end_at,
        normalised.canceled_at,
        normalised.cancel_at,
        normalised.ended_at,
        normalised.is_cancel_at_period_end,
        version_bounds.valid_from,
        version_bounds.valid_to,
        -- For the paid_through churn timing: a state followed by an immediate cancellation
        -- stays in force until the end of the period the customer already paid for.
        case
            when
                version_bounds.next_status = 'canceled'
                and normalised.current_period_end_at > version_bounds.valid_to
                then normalised.current_period_end_at
            else version_bounds.valid_to
        end as paid_through_valid_to
    from normalised
    inner join version_bounds
        on
            normalised.subscription_id = version_bounds.subscription_id
            and normalised.updated_at = version_bounds.valid_from
),

first_versions as (
    select
        subscription_id,
        min(valid_from) as first_version_at
    from version_bounds
    group by subscription_id
),

-- Issued non-proration subscription lines of recurring prices rebuild history.
history_lines as (
    select
        subscription_id,
        coalesce(subscription_item_id, 'line_' || invoice_line_id) as subscription_item_id,
        customer_id,
        price_id,
        price_type,
        usage_type,
        currency,
        unit_amount_minor,
        quantity,
        billing_interval,
        interval_count,
        interval_count * case billing_interval
            when 'month' then 1::numeric
            when 'year' then 12::numeric
            when 'week' then 12::numeric / 52
            when 'day' then 12::numeric / 365
        end as months_in_interval,
        discount_amount_minor,
        period_start_at,
        period_end_at
    from staging.stripe_invoice_line_items
    where
        line_type = 'subscription'
        and not is_proration
        and price_type = 'recurring'
        and coalesce(invoice_status, 'missing') not in ('draft', 'void')
        and {{ is_rebuilt('subscription_id') }}
),

billed_periods as (
    select history_lines.*
    from history_lines
    left join first_versions
        on history_lines.subscription_id = first_versions.subscription_id
    where
        first_versions.first_version_at is null
        or history_lines.period_start_at < first_versions.first_version_at
),

reconstructed_states as (
    select
        'invoice_line'::text as state_source,
        billed_periods.subscription_id,
        billed_periods.subscription_item_id,
        billed_periods.customer_id,
        billed_periods.price_id,
        'active'::text as status,
        false as is_deleted,
        billed_periods.currency,
        billed_periods.unit_amount_minor,
        billed_periods.quantity,
        billed_periods.price_type,
        billed_periods.usage_type,
        billed_periods.billing_interval,
        billed_periods.interval_count,
        billed_periods.months_in_interval,
        case
            when billed_periods.usage_type = 'licensed'
                then billed_periods.unit_amount_minor * billed_periods.quantity / billed_periods.months_in_interval
            else 0
        end as gross_mrr_minor,
        true as is_revenue_status,
        null::numeric as discount_percent_off,
        -- The invoice's discount for the billed period acts as an amount-off coupon over it.
        nullif(billed_periods.discount_amount_minor, 0) as discount_amount_off_minor,
        billed_periods.currency as discount_currency,
        case when billed_periods.discount_amount_minor > 0 then 'invoice' end as discount_duration,
        billed_periods.period_start_at as discount_start_at,
        billed_periods.period_end_at as discount_end_at,
        null::timestamptz as started_at,
        billed_periods.period_start_at as current_period_start_at,
        billed_periods.period_end_at as current_period_end_at,
        null::timestamptz as trial_end_at,
        null::timestamptz as canceled_at,
        null::timestamptz as cancel_at,
        null::timestamptz as ended_at,
        false as is_cancel_at_period_end,
        billed_periods.period_start_at as valid_from,
        least(billed_periods.period_end_at, first_versions.first_version_at) as valid_to,
        least(billed_periods.period_end_at, first_versions.first_version_at) as paid_through_valid_to
    from billed_periods
    left join first_versions
        on billed_periods.subscription_id = first_versions.subscription_id
),

final as (
    select * from version_states
    union all
    select * from reconstructed_states
)

select * from final
