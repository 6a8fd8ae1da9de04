-- Usable billed periods for rebuilding subscription history; rejected lines are in
-- staging.quarantine.
with validated as (
    select * from staging.stripe_invoice_lines_for_history_validated
),

final as (
    select
        invoice_line_id,
        invoice_id,
        customer_id,
        subscription_id,
        coalesce(subscription_item_id, 'line_' || invoice_line_id) as subscription_item_id,
        price_id,
        price_type,
        usage_type,
        currency,
        unit_amount_minor,
        quantity,
        billing_interval,
        interval_count,
        months_in_interval,
        discount_amount_minor,
        period_start_at,
        period_end_at
    from validated
    where rejection_reason is null
)

select * from final
