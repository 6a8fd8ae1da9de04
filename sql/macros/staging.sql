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
    own. `filter` restricts the rows read, for incremental models. The column version_rank is
    added.
#}
{% macro latest_rows(relation, key, order_by, filter=none, keyless=none) -%}
    select *
    from (
        select
            *,
            row_number() over (partition by {{ key }} order by {{ order_by }}) as version_rank
        from {{ relation }}
        where
            {{ extracted_by_plan() }}
            {%- if filter %}
            and ({{ filter }})
            {%- endif %}
    ) as ranked
    where version_rank = 1 or {{ keyless or key ~ ' is null' }}
{%- endmacro %}

{#
    For a merge model (see saas_metrics.operators.sql_transform): a predicate on `relation`'s
    rows that is true for every row of a record with a row extracted after the bound instant
    `since` (the plan's changed_since, -infinity when the table is rebuilt), and for each such
    row without its key. Pass it as the `filter` of latest_rows.
#}
{% macro changed_records(relation, key, since='changed_since') -%}
    {{ bind(since) }}::timestamptz = '-infinity'
    or {{ key }} in (
        select changed.{{ key }}
        from {{ relation }} as changed
        where changed._airbyte_extracted_at > {{ bind(since) }}::timestamptz
    )
    or {{ key }} is null and _airbyte_extracted_at > {{ bind(since) }}::timestamptz
{%- endmacro %}

{#
    For the merge of raw_stripe.invoice_line_items: a predicate on its rows, true for the
    changed lines, the lines of changed invoices (their status and customer are copied onto
    the line), and the lines quarantined because their invoice was not staged yet.
#}
{% macro changed_invoice_lines(since='changed_since') -%}
    {{ changed_records('raw_stripe.invoice_line_items', 'id', since) }}
    or invoice_id in (
        select changed.id
        from raw_stripe.invoices as changed
        where changed._airbyte_extracted_at > {{ bind('invoices_changed_since') }}::timestamptz
    )
    or id in (
        -- The record key is invoice id / line id.
        select split_part(waiting.record_key, '/', 2)
        from staging.quarantine as waiting
        where
            waiting.source_table = 'raw_stripe.invoice_line_items'
            and waiting.reason like 'invoice not staged%%'
    )
{%- endmacro %}
