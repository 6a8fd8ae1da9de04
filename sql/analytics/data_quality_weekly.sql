-- Weekly data-quality report per source for the seven complete UTC days before the run's data
-- interval end. Sync facts come from analytics.ingestion_health (one row per Airbyte sync
-- attempt) for sources that have rows there. For the others (demo mode, where no sync runs)
-- they come from the raw tables' _airbyte_extracted_at. Null rates always come from the raw
-- rows extracted in the window. When analytics.data_quality_results exists, the checks of
-- the runs whose data interval ended in the 7 days before this run's are counted per source, and checks on pipeline tables (staging,
-- core, analytics) under the extra source 'warehouse'. A check fails when the quality gate's
-- `action` is block and warns when it is warn. In a table without that column, a check fails
-- on outcome fail, failed, error or not_evaluated. Unknown values are null, never 0.
{% set inputs = ti.xcom_pull(task_ids='find_weekly_inputs') %}
{% set has_health = inputs['available']['analytics.ingestion_health'] %}
{% set has_checks = inputs['available']['analytics.data_quality_results'] %}
{% set has_action = has_checks and 'action' in inputs['columns']['analytics.data_quality_results'] %}
with settings as (
    select
        {{ bind('as_of') }}::timestamptz as as_of,
        (date_trunc('day', {{ bind('as_of') }}::timestamptz at time zone 'UTC') - interval '7 days')
        at time zone 'UTC' as window_start,
        date_trunc('day', {{ bind('as_of') }}::timestamptz at time zone 'UTC') at time zone 'UTC' as window_end,
        (date_trunc('week', {{ bind('as_of') }}::timestamptz at time zone 'UTC') - interval '7 days')::date
            as week_start,
        {{ 'true' if has_checks else 'false' }} as has_quality_results
),

sources as (
    select
        source_name,
        raw_schema,
        expected_sync_minutes,
        source_position
    from
        unnest(
            {{ bind('source_names') }}::text[],
            {{ bind('source_schemas') }}::text[],
            {{ bind('source_expected_minutes') }}::numeric[]
        ) with ordinality as configured (source_name, raw_schema, expected_sync_minutes, source_position)
),

-- Per raw table: the latest extraction before the interval end, and per UTC day of the window
-- the rows extracted and their null values over the table's own (non-Airbyte) columns.
-- NOTE: Airbyte's raw tables have no index on _airbyte_extracted_at, so each of these reads
-- scans its whole table once a week; measured only on the demo company (scale 0.05).
raw_latest as (
    select
        null::text as table_name,
        null::timestamptz as last_extracted_at
    where false
    {% for table in inputs['raw_tables'] %}
        union all
        select
            '{{ table.table }}'::text as table_name,
            max(raw_rows._airbyte_extracted_at) as last_extracted_at
        from {{ table.table }} as raw_rows
        cross join settings
        where raw_rows._airbyte_extracted_at < settings.as_of
    {% endfor %}
),

raw_daily as (
    select
        null::text as table_name,
        null::date as extracted_date,
        null::bigint as rows_extracted,
        null::numeric as null_values,
        null::numeric as values_checked
    where false
    {% for table in inputs['raw_tables'] %}
        union all
        select
            '{{ table.table }}'::text as table_name,
            (raw_rows._airbyte_extracted_at at time zone 'UTC')::date as extracted_date,
            count(*) as rows_extracted,
            sum(analytics.count_null_values(to_jsonb(raw_rows)))::numeric as null_values,
            sum(analytics.count_values(to_jsonb(raw_rows)))::numeric as values_checked
        from {{ table.table }} as raw_rows
        cross join settings
        where
            raw_rows._airbyte_extracted_at >= settings.window_start
            and raw_rows._airbyte_extracted_at < settings.window_end
        group by extracted_date
    {% endfor %}
),

raw_by_source as (
    select
        sources.source_name,
        count(distinct raw_latest.table_name) as raw_tables,
        max(raw_latest.last_extracted_at) as last_extracted_at
    from sources
    inner join raw_latest
        on sources.raw_schema = split_part(raw_latest.table_name, '.', 1)
    group by sources.source_name
),

raw_days as (
    select
        sources.source_name,
        raw_daily.extracted_date as activity_date,
        sum(raw_daily.rows_extracted) as rows_loaded,
        sum(raw_daily.null_values) as null_values,
        sum(raw_daily.values_checked) as values_checked
    from sources
    inner join raw_daily
        on sources.raw_schema = split_part(raw_daily.table_name, '.', 1)
    group by sources.source_name, raw_daily.extracted_date
),

{% if has_health %}
    health as (
        select ingestion_health.*
        from analytics.ingestion_health
        cross join settings
        where coalesce(ingestion_health.ended_at, ingestion_health.recorded_at) < settings.as_of
    ),

    health_by_source as (
        select
            health.source as source_name,
            max(health.ended_at) filter (where health.status = 'succeeded') as last_sync_at,
            count(*) filter (
                where health.started_at >= settings.window_start and health.started_at < settings.window_end
            ) as sync_attempts,
            count(*) filter (
                where
                health.status in ('failed', 'cancelled', 'incomplete', 'not_started')
                and health.started_at >= settings.window_start
                and health.started_at < settings.window_end
            ) as failed_syncs
        from health
        cross join settings
        group by health.source
    ),

    health_days as (
        select
            health.source as source_name,
            (health.ended_at at time zone 'UTC')::date as activity_date,
            sum(coalesce(health.rows_synced, 0)) as rows_loaded
        from health
        cross join settings
        where
            health.status = 'succeeded'
            and health.ended_at >= settings.window_start
            and health.ended_at < settings.window_end
        group by health.source, activity_date
    ),
{% else %}
    health_by_source as (
        select
            null::text as source_name,
            null::timestamptz as last_sync_at,
            null::bigint as sync_attempts,
            null::bigint as failed_syncs
        where false
    ),

    health_days as (
        select
            null::text as source_name,
            null::date as activity_date,
            null::numeric as rows_loaded
        where false
    ),
{% endif %}

{% if has_checks %}
    checks as (
        select
            coalesce(sources.source_name, 'warehouse') as source_name,
            quality_results.severity,
            quality_results.recorded_at,
            {% if has_action %}
                quality_results.action = 'block' as is_failed,
                quality_results.action = 'warn' as is_warning,
                quality_results.action = 'skip' as is_skipped
            {% else %}
                lower(quality_results.outcome) in ('fail', 'failed', 'error', 'not_evaluated') as is_failed,
                lower(quality_results.outcome) in ('warn', 'warning') as is_warning,
                false as is_skipped
            {% endif %}
        from analytics.data_quality_results as quality_results
        cross join settings
        left join sources
            on split_part(quality_results.table_name, '.', 1) = sources.raw_schema
        -- Checks of the runs whose data interval ended in the 7 days before this run's interval
        -- end, which are the daily runs of this weekly interval. A backfill or a late run records
        -- its checks days later, and a row without an interval counts when it was recorded.
        where
            coalesce(quality_results.data_interval_end, quality_results.recorded_at)
            >= settings.as_of - interval '7 days'
            and coalesce(quality_results.data_interval_end, quality_results.recorded_at) < settings.as_of
    ),

    checks_by_source as (
        select
            source_name,
            count(*) filter (where not is_skipped) as quality_checks,
            count(*) filter (where is_failed) as failed_quality_checks,
            count(*) filter (where is_warning) as warning_quality_checks,
            count(*) filter (where is_failed and lower(severity) = 'critical') as failed_critical_checks,
            max(recorded_at) as last_check_at
        from checks
        group by source_name
    ),
{% else %}
    checks_by_source as (
        select
            null::text as source_name,
            null::bigint as quality_checks,
            null::bigint as failed_quality_checks,
            null::bigint as warning_quality_checks,
            null::bigint as failed_critical_checks,
            null::timestamptz as last_check_at
        where false
    ),
{% endif %}

all_sources as (
    select
        source_name,
        'airbyte'::text as source_kind,
        raw_schema,
        expected_sync_minutes,
        source_position
    from sources
    {% if has_checks %}
        union all
        select
            'warehouse'::text as source_name,
            'pipeline'::text as source_kind,
            null::text as raw_schema,
            null::numeric as expected_sync_minutes,
            (select count(*) + 1 from sources) as source_position
    {% endif %}
),

per_source as (
    select
        all_sources.source_name,
        all_sources.source_kind,
        all_sources.raw_schema,
        all_sources.expected_sync_minutes,
        all_sources.source_position,
        health_by_source.source_name is not null as has_sync_records,
        case
            when health_by_source.source_name is not null then 'analytics.ingestion_health'
            when raw_by_source.source_name is not null then 'raw _airbyte_extracted_at'
        end as sync_facts_from,
        case
            when health_by_source.source_name is not null then health_by_source.last_sync_at
            else raw_by_source.last_extracted_at
        end as last_sync_at,
        raw_by_source.raw_tables,
        health_by_source.sync_attempts,
        health_by_source.failed_syncs
    from all_sources
    left join health_by_source
        on all_sources.source_name = health_by_source.source_name
    left join raw_by_source
        on all_sources.source_name = raw_by_source.source_name
),

window_days as (
    select (window_series.day_value at time zone 'UTC')::date as activity_date
    from settings
    cross join
        lateral generate_series(
            settings.window_start, settings.window_end - interval '1 day', interval '1 day'
        ) as window_series (day_value)
),

daily_rows as (
    select
        per_source.source_name,
        case
            when per_source.has_sync_records then health_days.rows_loaded
            else raw_days.rows_loaded
        end as rows_loaded,
        raw_days.null_values,
        raw_days.values_checked
    from per_source
    cross join window_days
    left join health_days
        on
            per_source.source_name = health_days.source_name
            and window_days.activity_date = health_days.activity_date
    left join raw_days
        on
            per_source.source_name = raw_days.source_name
            and window_days.activity_date = raw_days.activity_date
),

window_totals as (
    select
        source_name,
        count(*) filter (where rows_loaded > 0) as days_with_data,
        sum(coalesce(rows_loaded, 0)) as rows_loaded,
        sum(null_values) as null_values,
        sum(values_checked) as values_checked
    from daily_rows
    group by source_name
),

final as (
    select
        settings.week_start,
        settings.window_start,
        settings.window_end,
        per_source.source_name,
        per_source.source_kind,
        per_source.raw_schema,
        per_source.sync_facts_from,
        per_source.raw_tables,
        per_source.last_sync_at,
        (extract(epoch from settings.as_of - per_source.last_sync_at) / 60)::numeric as minutes_since_sync,
        per_source.expected_sync_minutes,
        -- A source that never synced is overdue.
        case
            when per_source.source_kind = 'airbyte'
                then coalesce(
                    extract(epoch from settings.as_of - per_source.last_sync_at) / 60
                    > per_source.expected_sync_minutes,
                    true
                )
        end as is_overdue,
        case
            when per_source.sync_facts_from is not null then window_totals.days_with_data
        end as days_with_data_last_7,
        case
            when per_source.sync_facts_from is not null then window_totals.rows_loaded / 7.0
        end::numeric as average_daily_rows,
        per_source.sync_attempts,
        per_source.failed_syncs,
        window_totals.null_values / nullif(window_totals.values_checked, 0) as average_null_rate,
        settings.has_quality_results,
        case when settings.has_quality_results then coalesce(checks_by_source.quality_checks, 0) end
            as quality_checks,
        case when settings.has_quality_results then coalesce(checks_by_source.failed_quality_checks, 0) end
            as failed_quality_checks,
        case when settings.has_quality_results then coalesce(checks_by_source.warning_quality_checks, 0) end
            as warning_quality_checks,
        case when settings.has_quality_results then coalesce(checks_by_source.failed_critical_checks, 0) end
            as failed_critical_checks,
        checks_by_source.last_check_at,
        per_source.source_position::integer as source_position,
        settings.as_of
    from per_source
    cross join settings
    inner join window_totals
        on per_source.source_name = window_totals.source_name
    left join checks_by_source
        on per_source.source_name = checks_by_source.source_name
)

select * from final
