{#
    Expressions that turn a `timestamp without time zone` source column into a UTC timestamptz.
    `rule` is the table's entry from timezone_corrections (passed in as params.timezone_rule):
    rows whose marker column holds one of the bound `local_time_markers` are read as wall-clock
    time in the bound `local_time_zone`; every other row, and every column the rule does not
    list, is read as UTC.
#}
{% macro utc_timestamp(column, rule) -%}
    {%- if rule and column in rule.columns -%}
        case
            when {{ rule.marker_column }} = any({{ bind('local_time_markers') }}::text [])
                then {{ column }} at time zone {{ bind('local_time_zone') }}
            else {{ column }} at time zone 'UTC'
        end
    {%- else -%}
        {{ column }} at time zone 'UTC'
    {%- endif -%}
{%- endmacro %}

{% macro is_local_time(rule) -%}
    {%- if rule -%}
        coalesce({{ rule.marker_column }} = any({{ bind('local_time_markers') }}::text []), false)
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}
