-- Non-proration subscription lines of issued invoices, the billed periods from which
-- subscription history before the first synced version is rebuilt, each with the reason it
-- cannot be used (null when it can).
with lines as (
    select * from staging.stripe_invoice_line_items
),

currencies as (
    select * from staging.currencies
),

candidates as (
    select lines.*
    from lines
    where
        lines.line_type = 'subscription'
        and not lines.is_proration
        and lines.price_type = 'recurring'
        and coalesce(lines.invoice_status, 'missing') not in ('draft', 'void')
),

final as (
    select
        candidates.*,
        candidates.interval_count * case candidates.billing_interval
            when 'month' then 1::numeric
            when 'year' then 12::numeric
            when 'week' then 12::numeric / 52
            when 'day' then 12::numeric / 365
        end as months_in_interval,
        case
            when candidates.subscription_id is null then 'missing subscription'
            when candidates.customer_id is null then 'missing invoice or customer'
            when currencies.currency is null then 'unknown currency ' || coalesce(candidates.currency, 'null')
            when candidates.period_start_at is null or candidates.period_end_at is null then 'missing period'
            when candidates.period_end_at <= candidates.period_start_at then 'empty period'
            when candidates.billing_interval is null then 'missing billing interval'
            when candidates.billing_interval not in ('day', 'week', 'month', 'year')
                then 'unknown billing interval ' || candidates.billing_interval
            when candidates.interval_count is null or candidates.interval_count <= 0 then 'invalid interval_count'
            when candidates.quantity is null or candidates.quantity < 0 then 'missing or negative quantity'
            when candidates.unit_amount_minor is null or candidates.unit_amount_minor < 0
                then 'missing or negative unit amount'
        end as rejection_reason
    from candidates
    left join currencies
        on candidates.currency = currencies.currency
)

select * from final
