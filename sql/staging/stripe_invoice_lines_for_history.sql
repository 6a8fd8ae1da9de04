-- Non-proration subscription lines of issued invoices: the billed periods from which
-- subscription history before the first synced version is rebuilt. staging.stripe_invoice_line_items
-- has already quarantined such lines whose period, interval, quantity or amount is unusable.
with lines as (
    select * from staging.stripe_invoice_line_items
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
        interval_count * case billing_interval
            when 'month' then 1::numeric
            when 'year' then 12::numeric
            when 'week' then 12::numeric / 52
            when 'day' then 12::numeric / 365
        end as months_in_interval,
        discount_amount_minor,
        period_start_at,
        period_end_at
    from lines
    where
        line_type = 'subscription'
        and not is_proration
        and price_type = 'recurring'
        and coalesce(invoice_status, 'missing') not in ('draft', 'void')
)

select * from final
