{#
    Helpers for staging models that validate a raw table (run with quarantine_source; see
    saas_metrics.operators.sql_transform). Such a model returns every raw row it read exactly
    once: usable rows with a null reason, rejected rows with the reason they were rejected.
#}

{# Only raw rows extracted up to the run's plan (the rows the run's row accounting counts). #}
{% macro extracted_by_plan() -%}
    _airbyte_extracted_at <= {{ bind('extracted_until') }}::timestamptz
{%- endmacro %}

{#
    The bookkeeping columns the operator moves to staging.quarantine: `reason` is a SQL
    expression that is null for a usable row, `key` the record's business key.
#}
{% macro quarantine_columns(reason, key, relation='') -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {{ reason }} as _rejection_reason,
    coalesce(({{ key }})::text, 'missing key') as _record_key,
    {{ prefix }}_airbyte_raw_id::text as _raw_id,
    {{ prefix }}_airbyte_extracted_at as _extracted_at
{%- endmacro %}

{#
    The rows of `relation` extracted up to the run's plan, one per `key` (the first in
    `order_by`, so repeated copies and older versions collapse), plus every row whose key is
    missing (`keyless`, by default `key is null`), so that each of those is quarantined on its
    own. `filter` restricts the rows read, for incremental models. For a merge, `changed` is a
    select of the keys to read (see changed_keys and changed_rows), and `keyless` must be the
    default, because every keyless row is read. The column version_rank is added.
#}
{% macro latest_rows(relation, key, order_by, filter=none, keyless=none, changed=none) -%}
    select *
    from (
        select
            *,
            row_number() over (partition by {{ key }} order by {{ order_by }}) as version_rank
        {%- if changed %}
        from ({{ changed_rows(relation, key, changed) }}) as changed_rows
        {%- else %}
        from {{ relation }}
        where {{ extracted_by_plan() }}
        {%- endif %}
        {%- if filter %}
        {{ 'where' if changed else 'and' }} ({{ filter }})
        {%- endif %}
    ) as ranked
    where version_rank = 1 or {{ keyless or key ~ ' is null' }}
{%- endmacro %}

{#
    The raw rows up to the run's plan of the records a merge reads: every row of the keys that
    the select `changed` returns, and the keyless rows extracted after the bound instant
    `since` (the plan's changed_since). Plain INs and a union, so that PostgreSQL joins the
    keys to their index: inside an OR it would test every row of the table.
#}
{% macro changed_rows(relation, key, changed, since='changed_since') -%}
    select *
    from {{ relation }}
    where
        {{ extracted_by_plan() }}
        and {{ key }} in ({{ changed }})

    union all

    select *
    from {{ relation }}
    where
        {{ extracted_by_plan() }}
        and {{ key }} is null
        and _airbyte_extracted_at > {{ bind(since) }}::timestamptz
{%- endmacro %}

{#
    For a merge model (see saas_metrics.operators.sql_transform): a select of the keys of
    `relation` with a row extracted after the bound instant `since` (the plan's changed_since,
    -infinity when the table is rebuilt). Pass it as the `changed` of latest_rows.
#}
{% macro changed_keys(relation, key, since='changed_since') -%}
    select changed.{{ key }}
    from {{ relation }} as changed
    where changed._airbyte_extracted_at > {{ bind(since) }}::timestamptz
{%- endmacro %}

{#
    For the merge of raw_stripe.invoice_line_items: a select of the ids of the changed lines,
    the lines of changed invoices (their status and customer are copied onto the line), and
    the lines quarantined because their invoice was not staged yet.
#}
{% macro changed_invoice_lines(since='changed_since') -%}
    {{ changed_keys('raw_stripe.invoice_line_items', 'id', since) }}
    union
    select line.id
    from raw_stripe.invoice_line_items as line
    where line.invoice_id in (
        {{ changed_keys('raw_stripe.invoices', 'id', 'invoices_changed_since') }}
    )
    union
    -- The record key is invoice id / line id.
    select split_part(waiting.record_key, '/', 2)
    from staging.quarantine as waiting
    where
        waiting.source_table = 'raw_stripe.invoice_line_items'
        and waiting.reason like 'invoice not staged%%'
{%- endmacro %}
