-- Schemas and helper functions every model relies on. Safe to run on every DAG run.
create schema if not exists staging;
create schema if not exists core;
create schema if not exists analytics;

-- Raises an error from inside a query, so that a model can fail its transaction with a
-- readable message (for example on a missing FX rate) instead of writing a wrong number.
create or replace function analytics.raise_error(message text)
returns boolean
language plpgsql
as $$
begin
    raise exception '%', message;
end;
$$;

-- Casts text to numeric, returning null for text that is not a number, so that staging can
-- quarantine such a row with its reason instead of failing the whole model.
create or replace function analytics.try_numeric(value text)
returns numeric
language sql
immutable
as $$
    select case
        when value ~ '^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$' then value::numeric
    end;
$$;

-- Tables that incremental models read back (earlier months) before writing, so they must
-- exist before the first run. Columns match the models' output exactly; the transform
-- operator refuses to write when they differ.
create table if not exists analytics.customer_mrr_monthly (
    month_start date,
    currency_basis text,
    currency text,
    customer_id text,
    mrr numeric,
    previous_mrr numeric,
    mrr_change numeric,
    movement text,
    cohort_month date,
    is_provisional boolean,
    snapshot_at timestamp with time zone,
    as_of timestamp with time zone
);

-- What the last successful daily run processed (see saas_metrics.incremental).
create table if not exists analytics.pipeline_state (
    state_key text primary key,
    state_value jsonb not null,
    updated_at timestamp with time zone not null default now()
);
