-- One row per self-service template run, rejected and failed runs included. Written by the
-- template runner as the Airflow connection's user, after the query ran as the self-service role.
create schema if not exists analytics;

create table if not exists analytics.query_audit_log (
    query_id uuid primary key,
    requested_by text not null,
    executed_as_role text not null,
    template_name text,
    is_template_run boolean not null,
    query_parameters jsonb not null,
    outcome text not null check (outcome in ('succeeded', 'rejected', 'failed')),
    rows_returned integer,
    estimated_scan_rows bigint,
    duration_seconds numeric(12, 3) not null,
    started_at timestamptz not null,
    dag_id text,
    dag_run_id text,
    result_table text,
    output_path text,
    error text
);
