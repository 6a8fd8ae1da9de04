{% from 'macros/staging.sql' import changed_keys, changed_rows, quarantine_columns with context %}
-- One row per distinct Stripe subscription version and item. Airbyte appends every version
-- of a subscription; a version synced twice (same id and `updated`) is collapsed to one row,
-- whatever order the copies arrived in. A version that cannot be used is quarantined with its
-- reason, one row per item. A version without items gives one row, which is quarantined.
-- A merge: only the subscriptions with a version extracted after the plan's changed_since.
with subscription_rows as (
    {{ changed_rows('raw_stripe.subscriptions', 'id', changed_keys('raw_stripe.subscriptions', 'id')) }}
),

subscription_versions as (
    select
        _airbyte_raw_id,
        _airbyte_extracted_at,
        _airbyte_raw_id as raw_id,
        _airbyte_extracted_at as extracted_at,
        id as subscription_id,
        customer as customer_id,
        lower(status) as status,
        lower(currency) as subscription_currency,
        updated,
        created,
        start_date,
        current_period_start,
        current_period_end,
        trial_end,
        canceled_at,
        cancel_at,
        ended_at,
        cancel_at_period_end,
        discount,
        items,
        coalesce(is_deleted, false) as is_deleted,
        -- A version without an id is a record of its own, quarantined on its own, however
        -- many others share its `updated`.
        row_number() over (
            partition by id, updated, case when id is null then _airbyte_raw_id end
            order by _airbyte_extracted_at desc, _airbyte_raw_id asc
        ) as copy_number
    from subscription_rows
),

distinct_versions as (
    select * from subscription_versions
    where copy_number = 1
),

items as (
    select
        versions.*,
        item.value as item,
        item.ordinality as item_position
    from distinct_versions as versions
    left join lateral jsonb_array_elements(
        case
            when jsonb_typeof(versions.items -> 'data') = 'array' then versions.items -> 'data'
            else '[]'::jsonb
        end
    ) with ordinality as item on true
),

parsed as (
    select
        items._airbyte_raw_id,
        items._airbyte_extracted_at,
        items.raw_id,
        items.extracted_at,
        items.subscription_id,
        items.customer_id,
        items.status,
        items.is_deleted,
        items.item ->> 'id' as subscription_item_id,
        items.item_position,
        items.item -> 'price' ->> 'id' as price_id,
        lower(coalesce(items.item -> 'price' ->> 'currency', items.subscription_currency)) as currency,
        coalesce(
            items.item -> 'price' ->> 'unit_amount',
            items.item -> 'price' ->> 'unit_amount_decimal'
        ) as unit_amount_text,
        coalesce(
            analytics.try_numeric(items.item -> 'price' ->> 'unit_amount'),
            analytics.try_numeric(items.item -> 'price' ->> 'unit_amount_decimal')
        ) as unit_amount_minor,
        items.item ->> 'quantity' as quantity_text,
        analytics.try_numeric(items.item ->> 'quantity') as quantity,
        items.item -> 'price' ->> 'type' as price_type,
        items.item -> 'price' -> 'recurring' ->> 'interval' as billing_interval,
        analytics.try_numeric(items.item -> 'price' -> 'recurring' ->> 'interval_count') as interval_count,
        coalesce(items.item -> 'price' -> 'recurring' ->> 'usage_type', 'licensed') as usage_type,
        items.discount,
        to_timestamp(items.updated) as updated_at,
        to_timestamp(items.created) as created_at,
        to_timestamp(items.start_date) as started_at,
        to_timestamp(items.current_period_start) as current_period_start_at,
        to_timestamp(items.current_period_end) as current_period_end_at,
        to_timestamp(items.trial_end) as trial_end_at,
        to_timestamp(items.canceled_at) as canceled_at,
        to_timestamp(items.cancel_at) as cancel_at,
        to_timestamp(items.ended_at) as ended_at,
        coalesce(items.cancel_at_period_end, false) as is_cancel_at_period_end
    from items
),

currencies as (
    select * from staging.currencies
),

validated as (
    select
        parsed.*,
        case
            when parsed.subscription_id is null then 'missing id'
            when parsed.item_position is null then 'version without items'
            when parsed.customer_id is null then 'missing customer'
            when parsed.updated_at is null then 'missing updated timestamp'
            when parsed.currency is null then 'missing currency'
            when currencies.currency is null then 'unknown currency ' || parsed.currency
            when parsed.price_type = 'one_time' then null
            when parsed.billing_interval is null then 'missing billing interval'
            when parsed.billing_interval not in ('day', 'week', 'month', 'year')
                then 'unknown billing interval ' || parsed.billing_interval
            when parsed.interval_count is null or parsed.interval_count <= 0
                then 'invalid interval_count ' || coalesce(parsed.interval_count::text, 'null')
            when parsed.quantity_text is not null and parsed.quantity is null
                then 'non-numeric quantity ' || parsed.quantity_text
            when parsed.quantity < 0 then 'negative quantity ' || parsed.quantity::text
            when parsed.unit_amount_text is not null and parsed.unit_amount_minor is null
                then 'non-numeric unit amount ' || parsed.unit_amount_text
            when parsed.unit_amount_minor is null then 'missing unit amount'
            when parsed.unit_amount_minor < 0 then 'negative unit amount'
        end as rejection_reason
    from parsed
    left join currencies
        on parsed.currency = currencies.currency
),

final as (
    select
        raw_id,
        extracted_at,
        subscription_id,
        customer_id,
        status,
        is_deleted,
        subscription_item_id,
        item_position,
        price_id,
        currency,
        unit_amount_minor,
        coalesce(quantity, 1) as quantity,
        coalesce(price_type, 'recurring') as price_type,
        billing_interval,
        interval_count,
        usage_type,
        discount,
        updated_at,
        created_at,
        started_at,
        current_period_start_at,
        current_period_end_at,
        trial_end_at,
        canceled_at,
        cancel_at,
        ended_at,
        is_cancel_at_period_end,
        {{ quarantine_columns(
            'rejection_reason',
            "subscription_id || '/' || coalesce(subscription_item_id, '#' || item_position::text, 'no items')"
        ) }}
    from validated
)

select * from final
