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
