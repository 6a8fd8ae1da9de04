-- Stripe invoices, one row per invoice (the latest version), amounts in minor units.
with source as (
    select distinct on (id) *
    from raw_stripe.invoices
    order by id asc, updated desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc
),

final as (
    select
        id as invoice_id,
        customer as customer_id,
        subscription as subscription_id,
        number as invoice_number,
        lower(status) as status,
        billing_reason,
        lower(currency) as currency,
        coalesce(paid, false) as is_paid,
        amount_due as amount_due_minor,
        amount_paid as amount_paid_minor,
        subtotal as subtotal_minor,
        total as total_minor,
        tax as tax_minor,
        to_timestamp(created) as created_at,
        to_timestamp(period_start) as period_start_at,
        to_timestamp(period_end) as period_end_at,
        to_timestamp(updated) as updated_at,
        coalesce(is_deleted, false) as is_deleted
    from source
)

select * from final
