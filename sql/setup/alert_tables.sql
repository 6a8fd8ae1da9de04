-- Tables of the alert evaluation task and the notification callbacks. Safe to run at any time:
-- the code that writes these tables runs this script first, under an advisory lock.
create schema if not exists analytics;

-- One row per rule evaluation, fired or not, with the metric values it saw.
create table if not exists analytics.alert_history (
    evaluation_id bigint generated always as identity primary key,
    rule_name text not null,
    period_start date not null,
    metric_name text not null,
    severity text not null,
    condition text not null,
    status text not null check (status in ('fired', 'not_fired', 'not_evaluated', 'error')),
    metric_values jsonb,
    reason text,
    message text,
    delivery_status text check (
        delivery_status in ('delivered', 'failed', 'already_delivered', 'in_progress')
    ),
    delivered_channel text,
    delivery_error text,
    dag_id text,
    run_id text,
    task_try_number integer,
    data_interval_start timestamptz,
    data_interval_end timestamptz,
    evaluated_at timestamptz not null default now()
);

create index if not exists alert_history_rule_period_idx
on analytics.alert_history (rule_name, period_start);

-- One row per rule and period: the claim that makes a fired alert go out once. A row is
-- claimed ('sending') in its own transaction before any message is sent.
create table if not exists analytics.alert_deliveries (
    rule_name text not null,
    period_start date not null,
    status text not null check (status in ('sending', 'delivered', 'failed')),
    claimed_at timestamptz not null,
    claimed_by text not null,
    evaluation_id bigint,
    delivered_at timestamptz,
    channel text,
    last_error text,
    primary key (rule_name, period_start)
);

-- One row per pipeline notification (a failed DAG run, a held board report), claimed the
-- same way, so that several failing tasks of one run send one message.
create table if not exists analytics.notification_log (
    kind text not null,
    dag_id text not null,
    run_id text not null,
    clear_number integer not null,
    subject text not null,
    task_id text,
    status text not null check (status in ('sending', 'delivered', 'failed')),
    claimed_at timestamptz not null,
    claimed_by text not null,
    delivered_at timestamptz,
    channel text,
    last_error text,
    message text,
    primary key (kind, dag_id, run_id, clear_number, subject)
);
