-- Invoice lines that would rebuild subscription history but cannot be used, with the reason
-- (partition of staging.quarantine).
with validated as (
    select * from staging.stripe_invoice_lines_for_history_validated
),

final as (
    select
        'stripe'::text as source_system,
        'raw_stripe.invoice_line_items'::text as source_table,
        raw_id::text as raw_id,
        (coalesce(invoice_id, '?') || '/' || invoice_line_id)::text as record_key,
        rejection_reason::text as reason,
        extracted_at
    from validated
    where rejection_reason is not null
)

select * from final
