{% from 'macros/staging.sql' import changed_invoice_lines, latest_rows, quarantine_columns with context %}
-- Stripe invoice lines, one row per line (the latest copy), with the billing period, price
-- and discount parsed out of their JSON and the invoice's customer and status attached.
-- A line that cannot be used is quarantined with its reason: one that names no invoice, or an
-- invoice not (yet) staged, or has an unknown currency; and a non-proration subscription line
-- of an issued invoice, the lines that rebuild subscription history, whose subscription,
-- billed period, interval, quantity or unit amount is missing or invalid. A line quarantined
-- because its invoice has not arrived is staged by the first run after the invoice syncs.
with source as (
    {{ latest_rows(
        'raw_stripe.invoice_line_items',
        'id',
        'invoice_updated desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc',
        changed=changed_invoice_lines()
    ) }}
),

invoices as (
    select * from staging.stripe_invoices
),

currencies as (
    select * from staging.currencies
),

parsed as (
    select
        source._airbyte_raw_id,
        source._airbyte_extracted_at,
        source._airbyte_raw_id as raw_id,
        source._airbyte_extracted_at as extracted_at,
        source.id as invoice_line_id,
        source.invoice_id,
        invoices.invoice_id is not null as is_invoice_staged,
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
        source.period ->> 'start' as period_start_text,
        source.period ->> 'end' as period_end_text,
        to_timestamp(analytics.try_numeric(source.period ->> 'start')) as period_start_at,
        to_timestamp(analytics.try_numeric(source.period ->> 'end')) as period_end_at
    from source
    left join invoices
        on source.invoice_id = invoices.invoice_id
),

validated as (
    select
        parsed.*,
        case
            when parsed.invoice_line_id is null then 'missing id'
            when parsed.invoice_id is null then 'missing invoice'
            when not parsed.is_invoice_staged then 'invoice not staged ' || parsed.invoice_id
            when currencies.currency is null then 'unknown currency ' || coalesce(parsed.currency, 'null')
            when
                parsed.period_start_text is not null and parsed.period_start_at is null
                or parsed.period_end_text is not null and parsed.period_end_at is null
                then
                    'unparseable period ' || coalesce(parsed.period_start_text, 'null')
                    || '..' || coalesce(parsed.period_end_text, 'null')
            -- The lines that rebuild subscription history (stripe_invoice_lines_for_history).
            when
                parsed.line_type <> 'subscription'
                or parsed.is_proration
                or parsed.price_type <> 'recurring'
                or parsed.invoice_status in ('draft', 'void')
                then null
            when parsed.subscription_id is null then 'missing subscription'
            when parsed.period_start_at is null or parsed.period_end_at is null then 'missing period'
            when parsed.period_end_at <= parsed.period_start_at then 'empty period'
            when parsed.billing_interval is null then 'missing billing interval'
            when parsed.billing_interval not in ('day', 'week', 'month', 'year')
                then 'unknown billing interval ' || parsed.billing_interval
            when parsed.interval_count is null or parsed.interval_count <= 0 then 'invalid interval_count'
            when parsed.quantity is null or parsed.quantity < 0 then 'missing or negative quantity'
            when parsed.unit_amount_minor is null or parsed.unit_amount_minor < 0
                then 'missing or negative unit amount'
        end as rejection_reason
    from parsed
    left join currencies
        on parsed.currency = currencies.currency
),

final as (
    select
        raw_id,
        extracted_at,
        invoice_line_id,
        invoice_id,
        customer_id,
        invoice_status,
        billing_reason,
        subscription_id,
        subscription_item_id,
        line_type,
        is_proration,
        currency,
        amount_minor,
        quantity,
        price_id,
        price_type,
        billing_interval,
        interval_count,
        usage_type,
        unit_amount_minor,
        discount_amount_minor,
        period_start_at,
        period_end_at,
        {{ quarantine_columns(
            'rejection_reason',
            "coalesce(invoice_id, '?') || '/' || coalesce(invoice_line_id, '?')"
        ) }}
    from validated
)

select * from final
