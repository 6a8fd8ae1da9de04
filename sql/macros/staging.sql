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
