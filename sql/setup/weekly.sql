-- Tables that weekly models read back before writing, so they must exist before the first
-- run. Columns match the models' output exactly; the transform operator refuses to write when
-- they differ. Safe to run on every DAG run.
create schema if not exists analytics;

-- Null values and values of a raw row given as to_jsonb(row), over the row's own columns
-- (Airbyte's _airbyte_* columns left out), so that null rates need no column lists. A SQL
-- null becomes JSON null in to_jsonb; a JSON column holding the literal null counts too.
create or replace function analytics.count_null_values(row_values jsonb)
returns bigint
language sql
immutable
as $$
    select count(*)
    from jsonb_each(row_values) as row_value
    where row_value.value = 'null'::jsonb and not starts_with(row_value.key, '_airbyte_');
$$;

create or replace function analytics.count_values(row_values jsonb)
returns bigint
language sql
immutable
as $$
    select count(*)
    from jsonb_object_keys(row_values) as row_key
    where not starts_with(row_key, '_airbyte_');
$$;

create table if not exists analytics.cohort_deep_dive_weekly (
    week_start date,
    data_as_of timestamp with time zone,
    cohort_month date,
    month_start date,
    months_since_cohort integer,
    is_provisional boolean,
    cohort_customers bigint,
    retained_customers bigint,
    logo_retention numeric,
    cohort_mrr numeric,
    retained_mrr numeric,
    revenue_retention numeric,
    average_logo_retention numeric,
    average_revenue_retention numeric,
    revenue_retention_vs_average numeric,
    previous_week_revenue_retention numeric,
    revenue_retention_week_change numeric
);
