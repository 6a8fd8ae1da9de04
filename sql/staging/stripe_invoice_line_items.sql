-- Stripe invoice lines, one row per line (the latest copy), with the billing period, price
-- and discount parsed out of their JSON and the invoice's customer and status attached.
with source as (
    select distinct on (id) *
    from raw_stripe.invoice_line_items
    order by id asc, invoice_updated desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc
),

invoices as (
    select * from staging.stripe_invoices
),

final as (
    select
        source._airbyte_raw_id as raw_id,
        source._airbyte_extracted_at as extracted_at,
        source.id as invoice_line_id,
        source.invoice_id,
        invoices.customer_id,
        invoices.status as invoice_status,
        invoices.billing_reason,
        source.subscription as subscription_id,
        source.subscription_item as subscription_item_id,
        source.type as line_type,
        coalesce(source.proration, false) as is_proration,
        lower(source.currency) as currency,
        source.amount as amount_minor,
        source.quantity,
        source.price ->> 'id' as price_id,
        coalesce(source.price ->> 'type', 'recurring') as price_type,
        source.price -> 'recurring' ->> 'interval' as billing_interval,
        analytics.try_numeric(source.price -> 'recurring' ->> 'interval_count') as interval_count,
        coalesce(source.price -> 'recurring' ->> 'usage_type', 'licensed') as usage_type,
        coalesce(
            analytics.try_numeric(source.price ->> 'unit_amount'),
            analytics.try_numeric(source.price ->> 'unit_amount_decimal')
        ) as unit_amount_minor,
        coalesce((
            select sum(analytics.try_numeric(discount_amount.value ->> 'amount'))
            from jsonb_array_elements(
                case when jsonb_typeof(source.discount_amounts) = 'array' then source.discount_amounts else '[]' end
            ) as discount_amount
        ), 0) as discount_amount_minor,
        to_timestamp(analytics.try_numeric(source.period ->> 'start')) as period_start_at,
        to_timestamp(analytics.try_numeric(source.period ->> 'end')) as period_end_at
    from source
    left join invoices
        on source.invoice_id = invoices.invoice_id
)

select * from final
