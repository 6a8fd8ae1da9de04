-- Stripe customers, one row per customer (the latest version). payment_method is PCI data:
-- the governance views redact it for every role except finance_admin.
with source as (
    select distinct on (id) *
    from raw_stripe.customers
    order by id asc, updated desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc
),

final as (
    select
        id as customer_id,
        metadata ->> 'workspace_id' as workspace_id,
        email,
        name as customer_name,
        lower(currency) as currency,
        balance as balance_minor,
        coalesce(delinquent, false) as is_delinquent,
        invoice_settings ->> 'default_payment_method' as payment_method,
        to_timestamp(created) as created_at,
        to_timestamp(updated) as updated_at,
        coalesce(is_deleted, false) as is_deleted
    from source
)

select * from final
