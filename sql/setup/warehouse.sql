-- Schemas and helper functions every model relies on. Safe to run on every DAG run.
create schema if not exists staging;
create schema if not exists core;
create schema if not exists analytics;

-- The staging models write their rejected rows here (see the transform operator, which has the
-- same statement for models run outside the DAG). Created once here, because parallel staging
-- tasks that each created it on a new warehouse collided in PostgreSQL's catalog.
create table if not exists staging.quarantine (
    source_system text,
    source_table text,
    raw_id text,
    record_key text,
    reason text,
    extracted_at timestamp with time zone
);

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
-- The models that read a window of months (mrr_monthly, ndr_monthly, segment_metrics) and the
-- replacement of the window's rows find them by month instead of scanning every month.
-- The catalog is read first in this script's DDL on existing tables: CREATE INDEX IF NOT
-- EXISTS and ALTER TABLE take their lock before they look, and waited for autovacuum.
do $$
begin
    if to_regclass('analytics.customer_mrr_monthly_month_start_idx') is null then
        create index customer_mrr_monthly_month_start_idx on analytics.customer_mrr_monthly (month_start);
    end if;
end;
$$;

-- What the last successful daily run processed (see saas_metrics.incremental).
create table if not exists analytics.pipeline_state (
    state_key text primary key,
    state_value jsonb not null,
    updated_at timestamp with time zone not null default now()
);

-- Tables whose shape changed: staging rebuilds them on this run. staging.aws_costs_daily
-- no longer keeps rejected rows (they are in staging.quarantine), and the invoice lines for
-- history are validated by staging.stripe_invoice_line_items itself.
do $$
begin
    if exists (
        select 1 from information_schema.columns
        where table_schema = 'staging' and table_name = 'aws_costs_daily' and column_name = 'rejection_reason'
    ) then
        drop table staging.aws_costs_daily;
    end if;
end;
$$;
drop table if exists staging.stripe_invoice_lines_for_history_validated;

-- analytics.product_metrics_daily lost its paid_plan_signups column. It is an incremental
-- table, so forgetting the conventions fingerprint makes the next plan rebuild all history.
do $$
begin
    if exists (
        select 1 from information_schema.columns
        where table_schema = 'analytics' and table_name = 'product_metrics_daily'
            and column_name = 'paid_plan_signups'
    ) then
        drop table analytics.product_metrics_daily;
        delete from analytics.pipeline_state where state_key = 'conventions_fingerprint';
    end if;
end;
$$;

-- Stripe subscription items are validated by staging.stripe_subscription_items itself, and
-- core.subscription_item_states reads its history lines from staging.stripe_invoice_line_items.
drop table if exists staging.stripe_subscription_items_validated;
drop table if exists staging.stripe_invoice_lines_for_history;

-- analytics.row_accounting records the start of each source's scope (see the model).
do $$
begin
    if to_regclass('analytics.row_accounting') is not null and not exists (
        select 1 from information_schema.columns
        where table_schema = 'analytics' and table_name = 'row_accounting' and column_name = 'extracted_since'
    ) then
        alter table analytics.row_accounting add column extracted_since timestamptz;
    end if;
end;
$$;

-- analytics.product_cohort_retention reads the active months from core.workspace_active_months,
-- which an incremental run fills only for its window. On a warehouse built before that table
-- existed, forgetting the conventions fingerprint makes the next plan rebuild all history.
do $$
begin
    if to_regclass('analytics.product_cohort_retention') is not null
        and to_regclass('core.workspace_active_months') is null then
        delete from analytics.pipeline_state where state_key = 'conventions_fingerprint';
    end if;
end;
$$;
