-- Product-manager self-service adoption per ISO week (Monday 00:00 UTC) and query template,
-- for every complete week before the run's data interval end, from analytics.query_audit_log
-- (one row per template run, rejected and failed runs included). Rows with a null
-- template_name are the week's totals over all templates; every week has one, with 0 runs
-- when nobody ran a template. When that table does not
-- exist (governance not applied to this warehouse), the model writes one row for the report
-- week with is_available false and null counts: adoption is unknown, not zero.
{% set inputs = ti.xcom_pull(task_ids='find_weekly_inputs') %}
with settings as (
    select
        {{ bind('as_of') }}::timestamptz as as_of,
        (date_trunc('week', {{ bind('as_of') }}::timestamptz at time zone 'UTC') - interval '7 days')::date
            as report_week_start
),

{% if inputs['available']['analytics.query_audit_log'] %}
    runs as (
        select
            coalesce(query_audit_log.template_name, '(no template)') as template_name,
            query_audit_log.requested_by,
            query_audit_log.outcome,
            query_audit_log.duration_seconds,
            query_audit_log.rows_returned,
            date_trunc('week', query_audit_log.started_at at time zone 'UTC')::date as week_start
        from analytics.query_audit_log
        cross join settings
        where
            query_audit_log.is_template_run
            and query_audit_log.started_at < settings.as_of
    ),

    first_requests as (
        select
            requested_by,
            min(week_start) as first_week_start
        from runs
        group by requested_by
    ),

    first_week as (
        select least(min(runs.week_start), settings.report_week_start) as week_start
        from settings
        left join runs
            on true
        group by settings.report_week_start
    ),

    weeks as (
        select week_value::date as week_start
        from settings
        cross join first_week
        cross join
            lateral generate_series(first_week.week_start, settings.report_week_start, interval '7 days')
                as week_value
    ),

    -- One row per week and template, and one per week for all templates (template_name null),
    -- so that a week without any run shows 0 runs instead of no row.
    weekly as (
        select
            runs.week_start,
            runs.template_name,
            grouping(runs.template_name) = 1 as is_all_templates,
            count(*) as template_runs,
            count(*) filter (where runs.outcome = 'succeeded') as succeeded_runs,
            count(*) filter (where runs.outcome = 'rejected') as rejected_runs,
            count(*) filter (where runs.outcome = 'failed') as failed_runs,
            count(distinct runs.requested_by) as requesters,
            count(distinct runs.requested_by) filter (
                where first_requests.first_week_start = runs.week_start
            ) as first_time_requesters,
            sum(runs.rows_returned) filter (where runs.outcome = 'succeeded') as rows_returned,
            avg(runs.duration_seconds) filter (where runs.outcome = 'succeeded') as average_duration_seconds
        from runs
        inner join first_requests
            on runs.requested_by = first_requests.requested_by
        cross join settings
        where runs.week_start <= settings.report_week_start
        group by grouping sets ((runs.week_start, runs.template_name), (runs.week_start))
    ),

    dense as (
        select
            weeks.week_start,
            null::text as template_name,
            coalesce(weekly.template_runs, 0) as template_runs,
            coalesce(weekly.succeeded_runs, 0) as succeeded_runs,
            coalesce(weekly.rejected_runs, 0) as rejected_runs,
            coalesce(weekly.failed_runs, 0) as failed_runs,
            coalesce(weekly.requesters, 0) as requesters,
            coalesce(weekly.first_time_requesters, 0) as first_time_requesters,
            weekly.rows_returned,
            weekly.average_duration_seconds
        from weeks
        left join weekly
            on
                weeks.week_start = weekly.week_start
                and weekly.is_all_templates
        union all
        select
            week_start,
            template_name,
            template_runs,
            succeeded_runs,
            rejected_runs,
            failed_runs,
            requesters,
            first_time_requesters,
            rows_returned,
            average_duration_seconds
        from weekly
        where not is_all_templates
    ),

    final as (
        select
            dense.week_start,
            to_char(dense.week_start, 'IYYY-"W"IW') as iso_week,
            dense.template_name,
            true as is_available,
            'from analytics.query_audit_log'::text as availability_note,
            dense.template_runs,
            dense.succeeded_runs,
            dense.rejected_runs,
            dense.failed_runs,
            dense.succeeded_runs::numeric / nullif(dense.template_runs, 0) as success_rate,
            dense.requesters,
            dense.first_time_requesters,
            dense.rows_returned,
            dense.average_duration_seconds::numeric as average_duration_seconds,
            settings.as_of
        from dense
        cross join settings
    )
{% else %}
    final as (
        select
            settings.report_week_start as week_start,
            to_char(settings.report_week_start, 'IYYY-"W"IW') as iso_week,
            null::text as template_name,
            false as is_available,
            'not available: analytics.query_audit_log does not exist'::text as availability_note,
            null::bigint as template_runs,
            null::bigint as succeeded_runs,
            null::bigint as rejected_runs,
            null::bigint as failed_runs,
            null::numeric as success_rate,
            null::bigint as requesters,
            null::bigint as first_time_requesters,
            null::bigint as rows_returned,
            null::numeric as average_duration_seconds,
            settings.as_of
        from settings
    )
{% endif %}

select * from final
