{% from 'macros/staging.sql' import latest_rows, quarantine_columns with context %}
-- Stripe customers, one row per customer (the latest version). payment_method is PCI data:
-- the governance views redact it for every role except finance_admin. A row without an id
-- cannot be matched to anything and is quarantined.
with source as (
    {{ latest_rows(
        'raw_stripe.customers',
        'id',
        'updated desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc'
    ) }}
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
        coalesce(is_deleted, false) as is_deleted,
        {{ quarantine_columns("case when id is null then 'missing id' end", 'id') }}
    from source
)

select * from final
