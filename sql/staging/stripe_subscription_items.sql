-- Usable subscription item versions; rejected ones are in staging.quarantine.
with validated as (
    select * from staging.stripe_subscription_items_validated
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
        is_cancel_at_period_end
    from validated
    where rejection_reason is null
)

select * from final
