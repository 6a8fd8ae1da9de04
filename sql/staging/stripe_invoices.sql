{% from 'macros/staging.sql' import changed_keys, latest_rows, quarantine_columns with context %}
-- Stripe invoices, one row per invoice (the latest version), amounts in minor units. An
-- invoice without an id or a customer, or in a currency staging.currencies does not list, is
-- quarantined.
with source as (
    {{ latest_rows(
        'raw_stripe.invoices',
        'id',
        'updated desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc',
        changed=changed_keys('raw_stripe.invoices', 'id')
    ) }}
),

currencies as (
    select * from staging.currencies
),

final as (
    select
        source.id as invoice_id,
        source.customer as customer_id,
        source.subscription as subscription_id,
        source.number as invoice_number,
        lower(source.status) as status,
        source.billing_reason,
        lower(source.currency) as currency,
        coalesce(source.paid, false) as is_paid,
        source.amount_due as amount_due_minor,
        source.amount_paid as amount_paid_minor,
        source.subtotal as subtotal_minor,
        source.total as total_minor,
        source.tax as tax_minor,
        to_timestamp(source.created) as created_at,
        to_timestamp(source.period_start) as period_start_at,
        to_timestamp(source.period_end) as period_end_at,
        to_timestamp(source.updated) as updated_at,
        coalesce(source.is_deleted, false) as is_deleted,
        {{ quarantine_columns(
            "case
                when source.id is null then 'missing id'
                when source.customer is null then 'missing customer'
                when currencies.currency is null
                    then 'unknown currency ' || coalesce(source.currency, 'null')
            end",
            'source.id',
            'source'
        ) }}
    from source
    left join currencies
        on lower(source.currency) = currencies.currency
)

select * from final
