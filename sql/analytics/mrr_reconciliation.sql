-- The engine's MRR against what Stripe billed, per month and billing currency (native basis).
-- Billed MRR at a month's snapshot is the sum over the licensed, recurring, non-proration
-- subscription lines of paid invoices whose billed period contains the snapshot instant,
-- each normalised to a month by its price's interval (a yearly line counts 1/12). The
-- snapshot is the engine's: the first instant of the next month, or the run's data interval
-- end for the open month. Lines of subscription_create and subscription_update invoices count
-- too, because a subscription's first period, and a period restarted by an interval change, are
-- billed on those and never on a subscription_cycle invoice.
-- The months from the bound recompute_from (billing and invoices domains) to the open month are
-- written. A line counts only in months whose snapshot lies in its period, so only the lines
-- whose period ends after the first of those months begins are read. The plan moves the
-- invoices domain back to the earliest period start of every line, or invoice, that arrives
-- or changes (see saas_metrics.incremental).
with settings as (
    select
        {{ bind('reporting_time_zone') }}::text as time_zone,
        {{ bind('as_of') }}::timestamptz as as_of,
        {{ bind('recompute_from') }}::date as recompute_from
),

engine as (
    select monthly.*
    from analytics.mrr_monthly as monthly
    cross join settings
    where
        monthly.currency_basis = 'native'
        and monthly.month_start >= settings.recompute_from
        and monthly.month_start <= date_trunc(
            'month', (settings.as_of - interval '1 microsecond') at time zone settings.time_zone
        )::date
),

months as (
    select distinct
        month_start,
        snapshot_at,
        is_provisional
    from engine
),

lines as (
    select stripe_invoice_line_items.*
    from staging.stripe_invoice_line_items
    cross join settings
    where
        stripe_invoice_line_items.period_end_at
        > settings.recompute_from::timestamp at time zone settings.time_zone
),

currencies as (
    select * from staging.currencies
),

billed_lines as (
    select
        lines.invoice_line_id,
        lines.currency,
        lines.period_start_at,
        lines.period_end_at,
        -- Stripe reports a line's amount before discounts, and a trial period's line has amount 0
        -- at the full unit price, so the smaller of the two is what the period was billed at.
        least(
            lines.amount_minor,
            lines.unit_amount_minor * lines.quantity - lines.discount_amount_minor
        ) / (
            lines.interval_count * case lines.billing_interval
                when 'month' then 1::numeric
                when 'year' then 12::numeric
                when 'week' then 12::numeric / 52
                when 'day' then 12::numeric / 365
            end
        ) / currencies.minor_units_per_unit as billed_mrr
    from lines
    inner join currencies
        on lines.currency = currencies.currency
    where
        lines.invoice_status = 'paid'
        and lines.billing_reason in ('subscription_create', 'subscription_cycle', 'subscription_update')
        and lines.line_type = 'subscription'
        and not lines.is_proration
        and lines.price_type = 'recurring'
        and lines.usage_type = 'licensed'
        and lines.interval_count > 0
),

-- A month's snapshot lies after the start of the month and no later than the start of the
-- next, so only the months from the one before a line's period starts to the one after it
-- ends can have their snapshot in the period. Joining lines to these candidate months by
-- equality avoids comparing every line with every month; the period test is unchanged.
line_candidate_months as (
    select
        billed_lines.*,
        candidate_month::date as month_start
    from billed_lines
    cross join settings
    cross join lateral generate_series(
        date_trunc('month', billed_lines.period_start_at at time zone settings.time_zone) - interval '1 month',
        date_trunc('month', billed_lines.period_end_at at time zone settings.time_zone) + interval '1 month',
        interval '1 month'
    ) as candidate_month
),

billed as (
    select
        months.month_start,
        line_candidate_months.currency,
        sum(line_candidate_months.billed_mrr) as invoiced_mrr,
        count(*) as invoice_lines
    from line_candidate_months
    inner join months
        on
            line_candidate_months.month_start = months.month_start
            and line_candidate_months.period_start_at < months.snapshot_at
            and line_candidate_months.period_end_at >= months.snapshot_at
    group by months.month_start, line_candidate_months.currency
),

final as (
    select
        months.month_start,
        coalesce(engine.currency, billed.currency) as currency,
        months.is_provisional,
        months.snapshot_at,
        coalesce(engine.mrr, 0) as engine_mrr,
        coalesce(billed.invoiced_mrr, 0) as invoiced_mrr,
        coalesce(billed.invoice_lines, 0) as invoice_lines,
        coalesce(engine.mrr, 0) - coalesce(billed.invoiced_mrr, 0) as difference,
        (coalesce(engine.mrr, 0) - coalesce(billed.invoiced_mrr, 0))
        / nullif(billed.invoiced_mrr, 0) as difference_ratio
    from engine
    full outer join billed
        on
            engine.month_start = billed.month_start
            and engine.currency = billed.currency
    inner join months
        on coalesce(engine.month_start, billed.month_start) = months.month_start
)

select * from final
