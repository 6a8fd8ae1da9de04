{% from 'macros/staging.sql' import changed_rows with context %}
-- Where every raw row of this run went, per source table: one row per source for each run
-- (as_of), so the history of the counts is kept. Only raw rows extracted up to the run's plan
-- (the bound extracted_until) count, the same rows the staging models read. The plan reads the
-- large sources by change (saas_metrics.incremental.INCREMENTAL_SOURCES). For them only the
-- records with a raw row extracted after extracted_since count, which are the records the run
-- staged again. The others balanced when a run last changed them. extracted_since is null when
-- every record counts (the first run, a full rebuild, and the small sources).
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
{#-
    Keys keep their column type: counting distinct bigints is several times faster than text.
    The fourth item is the staged table's key of an incremental source, which the plan's
    changed_since for the table (bound as <schema>_<table>_since) scopes.
#}
{%- set sources = [
    ('raw_stripe.customers', 'id', 'staging.stripe_customers', none),
    ('raw_stripe.invoices', 'id', 'staging.stripe_invoices', 'invoice_id'),
    ('raw_stripe.invoice_line_items', 'id', 'staging.stripe_invoice_line_items', 'invoice_line_id'),
    ('raw_product.workspaces', 'id', 'staging.product_workspaces', none),
    ('raw_product.users', 'id', 'staging.product_users', 'user_id'),
    ('raw_product.events', 'id', 'staging.product_events', 'event_id'),
    ('raw_segment.tracks', 'id', 'staging.segment_tracks', 'message_id'),
    ('raw_salesforce.account', '"Id"', 'staging.salesforce_accounts', none),
    ('raw_salesforce.opportunity', '"Id"', 'staging.salesforce_opportunities', none),
    ('raw_zendesk.tickets', 'id', 'staging.zendesk_tickets', 'ticket_id'),
    ('raw_aws_cost.cost_and_usage', "time_period_start::text || '/' || service", 'staging.aws_costs_daily', none),
] %}
{%- macro since_name(raw_table) -%}
    {{ raw_table | replace('.', '_') ~ '_since' }}
{%- endmacro %}
{%- macro since(raw_table) -%}
    {{ bind(since_name(raw_table)) }}::timestamptz
{%- endmacro %}
{#- The keys of `raw_table` with a row extracted after its changed_since, up to the plan. #}
{%- macro changed_keys(raw_table, key) -%}
    select changed.{{ key }}
    from {{ raw_table }} as changed
    where
        changed._airbyte_extracted_at > {{ since(raw_table) }}
        and changed._airbyte_extracted_at <= {{ bind('extracted_until') }}::timestamptz
{%- endmacro %}
{#- The raw rows of the records an incremental source counts (see changed_rows). #}
{%- macro scoped_rows(raw_table, key) -%}
    {{ changed_rows(raw_table, key, changed_keys(raw_table, key), since=since_name(raw_table)) }}
{%- endmacro %}
{#- The quarantine rows of the records counted; all of the source's without a scope. #}
{%- macro quarantined(raw_table, key, scoped) -%}
    (
        select count(*)
        from staging.quarantine as quarantined
        where
            quarantined.source_table = '{{ raw_table }}'
    {%- if scoped %}
            and quarantined.raw_id in (
                select scoped._airbyte_raw_id::text from ({{ scoped_rows(raw_table, key) }}) as scoped
            )
    {%- endif %}
    )
{%- endmacro %}
with settings as (
    select
        {{ bind('as_of') }}::timestamptz as as_of,
        {{ bind('extracted_until') }}::timestamptz as extracted_until
),

counted as (
    {% for raw_table, key, staged_table, staged_key in sources %}
        select
            '{{ raw_table }}'::text as source_table,
            '{{ staged_table }}'::text as staged_table,
            'row'::text as record_unit,
            source_rows.raw_rows,
            source_rows.raw_rows - source_rows.records as collapsed_rows,
            source_rows.records,
            (
                select count(*)
                from {{ staged_table }}
                {%- if staged_key %}
                    where {{ staged_table }}.{{ staged_key }} in ({{ changed_keys(raw_table, key) }})
                {%- endif %}
            ) as staged_rows,
            {{ quarantined(raw_table, key, staged_key) }} as quarantined_rows,
            {{ since(raw_table) if staged_key else "'-infinity'::timestamptz" }} as extracted_since
        from (
            select
                count(*) as raw_rows,
                count(distinct raw_row.{{ key }}) + count(*) filter (where raw_row.{{ key }} is null) as records
            {%- if staged_key %}
                from ({{ scoped_rows(raw_table, key) }}) as raw_row
            {%- else %}
                from {{ raw_table }} as raw_row
                cross join settings
                where raw_row._airbyte_extracted_at <= settings.extracted_until
            {%- endif %}
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
        (
            select count(*)
            from staging.stripe_subscription_items as staged
            where staged.subscription_id in ({{ changed_keys('raw_stripe.subscriptions', 'id') }})
        ) as staged_rows,
        {{ quarantined('raw_stripe.subscriptions', 'id', true) }} as quarantined_rows,
        {{ since('raw_stripe.subscriptions') }} as extracted_since
    from (
        select
            (array_agg(raw_row.items order by raw_row._airbyte_extracted_at desc, raw_row._airbyte_raw_id asc))[1]
                as items,
            count(*) as copies
        from ({{ scoped_rows('raw_stripe.subscriptions', 'id') }}) as raw_row
        -- As staging does, a version without an id is a record of its own.
        group by raw_row.id, raw_row.updated, case when raw_row.id is null then raw_row._airbyte_raw_id end
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
        (select count(*) from staging.fx_rates_monthly) as staged_rows,
        {{ quarantined('raw_finance.fx_rates_monthly', none, false) }} as quarantined_rows,
        '-infinity'::timestamptz as extracted_since
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
        counted.quarantined_rows::bigint as quarantined_rows,
        (coalesce(counted.records, 0) - counted.staged_rows - counted.quarantined_rows)::bigint as unaccounted_rows,
        settings.extracted_until,
        nullif(counted.extracted_since, '-infinity') as extracted_since
    from counted
    cross join settings
)

select * from final
