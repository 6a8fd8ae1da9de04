-- Rejected subscription item versions, kept with their reason (partition of staging.quarantine).
with validated as (
    select * from staging.stripe_subscription_items_validated
),

final as (
    select
        'stripe'::text as source_system,
        'raw_stripe.subscriptions'::text as source_table,
        raw_id::text as raw_id,
        (
            coalesce(subscription_id, 'missing key') || '/'
            || coalesce(subscription_item_id, '#' || item_position::text, 'no items')
        )::text as record_key,
        rejection_reason::text as reason,
        extracted_at
    from validated
    where rejection_reason is not null
)

select * from final
