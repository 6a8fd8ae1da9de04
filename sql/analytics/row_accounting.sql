-- Where every raw row of this run went, per source table: one row per source for each run
-- (as_of), so the history of the counts is kept. Only raw rows extracted up to the run's plan
-- (the bound extracted_until) count, the same rows the staging models read.
--
--   raw_rows       = collapsed_rows + records
--   records        = staged_rows + quarantined_rows + unaccounted_rows
--
-- collapsed_rows are repeated copies and older versions of a record that staging keeps once;
-- a record is what staging keeps one row of (a row without its key is a record of its own).
-- unaccounted_rows must be 0: anything else means a staging model dropped or duplicated rows,
-- and the quality gate fails the run. Stripe subscriptions are the exception to the first
-- identity: collapsed_rows are repeated copies of a version, and records are item versions,
-- because staging keeps one row per item of each distinct version (a version without items
-- counts one, and is quarantined).
{#- Keys keep their column type: counting distinct bigints is several times faster than text. #}
{%- set sources = [
    ('raw_stripe.customers', 'id', 'staging.stripe_customers'),
    ('raw_stripe.invoices', 'id', 'staging.stripe_invoices'),
    ('raw_stripe.invoice_line_items', 'id', 'staging.stripe_invoice_line_items'),
    ('raw_product.workspaces', 'id', 'staging.product_workspaces'),
    ('raw_product.users', 'id', 'staging.product_users'),
    ('raw_product.events', 'id', 'staging.product_events'),
    ('raw_segment.tracks', 'id', 'staging.segment_tracks'),
    ('raw_salesforce.account', '"Id"', 'staging.salesforce_accounts'),
    ('raw_salesforce.opportunity', '"Id"', 'staging.salesforce_opportunities'),
    ('raw_zendesk.tickets', 'id', 'staging.zendesk_tickets'),
    ('raw_aws_cost.cost_and_usage', "time_period_start::text || '/' || service", 'staging.aws_costs_daily'),
] %}
with settings as (
    select
        {{ bind('as_of') }}::timestamptz as as_of,
        {{ bind('extracted_until') }}::timestamptz as extracted_until
),

quarantined as (
    select
        source_table,
        count(*) as quarantined_rows
    from staging.quarantine
    group by source_table
),

counted as (
    {% for raw_table, key, staged_table in sources %}
        select
            '{{ raw_table }}'::text as source_table,
            '{{ staged_table }}'::text as staged_table,
            'row'::text as record_unit,
            source_rows.raw_rows,
            source_rows.raw_rows - source_rows.records as collapsed_rows,
            source_rows.records,
            (select count(*) from {{ staged_table }}) as staged_rows
        from (
            select
                count(*) as raw_rows,
                count(distinct {{ key }}) + count(*) filter (where {{ key }} is null) as records
            from {{ raw_table }}
            cross join settings
            where {{ raw_table }}._airbyte_extracted_at <= settings.extracted_until
        ) as source_rows

        union all
    {% endfor %}

    select
        'raw_stripe.subscriptions'::text as source_table,
        'staging.stripe_subscription_items'::text as staged_table,
        'subscription item version'::text as record_unit,
        sum(versions.copies) as raw_rows,
        sum(versions.copies) - count(*) as collapsed_rows,
        sum(
            case
                when jsonb_typeof(versions.items -> 'data') = 'array'
                    then greatest(jsonb_array_length(versions.items -> 'data'), 1)
                else 1
            end
        ) as records,
        (select count(*) from staging.stripe_subscription_items) as staged_rows
    from (
        select
            (array_agg(
                subscriptions.items order by subscriptions._airbyte_extracted_at desc, subscriptions._airbyte_raw_id asc
            ))[1] as items,
            count(*) as copies
        from raw_stripe.subscriptions as subscriptions
        cross join settings
        where subscriptions._airbyte_extracted_at <= settings.extracted_until
        group by subscriptions.id, subscriptions.updated
    ) as versions

    union all

    select
        'raw_finance.fx_rates_monthly'::text as source_table,
        'staging.fx_rates_monthly'::text as staged_table,
        'distinct rate per month and currency'::text as record_unit,
        count(*) as raw_rows,
        count(*) - count(
            distinct coalesce(date_trunc('month', finance_rates.month)::date::text, 'null')
            || '/' || coalesce(lower(finance_rates.currency), 'null')
            || '/' || coalesce(trim_scale(finance_rates.rate_to_usd)::text, 'null')
        ) as collapsed_rows,
        count(
            distinct coalesce(date_trunc('month', finance_rates.month)::date::text, 'null')
            || '/' || coalesce(lower(finance_rates.currency), 'null')
            || '/' || coalesce(trim_scale(finance_rates.rate_to_usd)::text, 'null')
        ) as records,
        (select count(*) from staging.fx_rates_monthly) as staged_rows
    from raw_finance.fx_rates_monthly as finance_rates
),

final as (
    select
        settings.as_of,
        counted.source_table,
        counted.staged_table,
        counted.record_unit,
        coalesce(counted.raw_rows, 0)::bigint as raw_rows,
        coalesce(counted.collapsed_rows, 0)::bigint as collapsed_rows,
        coalesce(counted.records, 0)::bigint as records,
        counted.staged_rows::bigint as staged_rows,
        coalesce(quarantined.quarantined_rows, 0)::bigint as quarantined_rows,
        (coalesce(counted.records, 0) - counted.staged_rows - coalesce(quarantined.quarantined_rows, 0))::bigint
            as unaccounted_rows,
        settings.extracted_until
    from counted
    cross join settings
    left join quarantined
        on counted.source_table = quarantined.source_table
)

select * from final
