-- Objects the governance apply step relies on: its state tables and the column-access audit.
-- Runs at the start of every apply; every statement is idempotent.
create schema if not exists governance;
comment on schema governance is 'Warehouse governance state, written by the apply step';

-- Whether each table governance.yml refers to exists and is governed, or is still pending.
create table if not exists governance.table_status (
    table_name text primary key,
    status text not null check (status in ('applied', 'pending')),
    detail text,
    status_since timestamptz not null,
    checked_at timestamptz not null
);

-- Limits the apply step set on members' login roles, so that it can undo exactly those when a
-- member leaves the group role or the limit is removed from the configuration.
create table if not exists governance.member_limits (
    member_name text primary key,
    statement_timeout_seconds integer,
    connection_limit integer,
    applied_at timestamptz not null
);

create schema if not exists audit;
comment on schema audit is 'Audit trail of reads of audited columns';

-- One row per query and audited column read through a governed view. Rows are written in the
-- reader's transaction, so a reader that rolls back also removes its row. The server log line
-- written alongside (RAISE LOG) is the record that survives a rollback.
create table if not exists audit.column_access_log (
    access_id bigint generated always as identity primary key,
    accessed_at timestamptz not null default clock_timestamp(),
    login_user text not null,
    active_role text,
    table_name text not null,
    column_name text not null,
    backend_pid integer not null,
    statement_started_at timestamptz not null,
    query_text text,
    constraint column_access_log_statement_key unique (backend_pid, statement_started_at, table_name, column_name)
);

-- Writes the audit row and the server log line. Runs as its owner, so readers need no
-- privilege on the log table; it is not executable by readers directly.
create or replace function audit.write_column_read(audited_table text, audited_column text)
returns void
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    inserted integer;
begin
    -- session_user is the login role and the "role" setting the role chosen with SET ROLE;
    -- current_user would name this function's owner.
    insert into audit.column_access_log (
        login_user, active_role, table_name, column_name, backend_pid, statement_started_at, query_text
    )
    values (
        session_user,
        nullif(current_setting('role'), 'none'),
        audited_table,
        audited_column,
        pg_backend_pid(),
        statement_timestamp(),
        left(current_query(), 4000)
    )
    on conflict on constraint column_access_log_statement_key do nothing;
    get diagnostics inserted = row_count;
    if inserted > 0 then
        raise log 'audited column read: %.% by login % (role %), backend %',
            audited_table,
            audited_column,
            session_user,
            current_setting('role'),
            pg_backend_pid();
    end if;
end;
$$;

-- Called from governed views; returns true after logging the read. Declared stable although it
-- writes (through the volatile function above), because a volatile call would stop the planner
-- from dropping the expression when a query does not read the audited column.
create or replace function audit.log_column_read(audited_table text, audited_column text)
returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform audit.write_column_read(audited_table, audited_column);
    return true;
end;
$$;

revoke all on function audit.write_column_read(text, text) from public;
revoke all on function audit.log_column_read(text, text) from public;
