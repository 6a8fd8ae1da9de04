-- Per month and customer segment (segments by MRR in the reporting currency, thresholds from
-- configuration): accounts, MRR, average MRR, average daily active users and features
-- adopted per account, and the segment's logo churn rate. A churned customer is counted in
-- the segment it had in the month before it churned.
with settings as (
    select
        {{ bind('reporting_time_zone') }}::text as time_zone,
        {{ bind('as_of') }}::timestamptz as as_of,
        {{ bind('recompute_from') }}::date as recompute_from,
        ({{ bind('recompute_from') }}::date - interval '1 month')::date as window_start,
        date_trunc(
            'month', ({{ bind('as_of') }}::timestamptz - interval '1 microsecond') at time zone
            {{ bind('reporting_time_zone') }}::text
        )::date as open_month
),

segments as (
    select
        segment_name,
        min_mrr,
        segment_position
    from
        unnest({{ bind('segment_names') }}::text[], {{ bind('segment_min_mrr') }}::numeric[])
        with ordinality as configured (segment_name, min_mrr, segment_position)
),

customer_mrr as (
    select customer_mrr_monthly.*
    from analytics.customer_mrr_monthly
    cross join settings
    where
        customer_mrr_monthly.currency_basis = 'reporting'
        and customer_mrr_monthly.month_start between settings.window_start and settings.open_month
),

customer_segments as (
    select
        customer_mrr.month_start,
        customer_mrr.customer_id,
        customer_mrr.mrr,
        customer_mrr.movement,
        case
            when customer_mrr.mrr > 0 then (
                select segments.segment_name
                from segments
                where customer_mrr.mrr >= segments.min_mrr
                order by segments.segment_position
                limit 1
            )
        end as segment_name
    from customer_mrr
),

with_previous_segment as (
    select
        customer_segments.*,
        lag(customer_segments.segment_name) over (
            partition by customer_segments.customer_id order by customer_segments.month_start
        ) as previous_segment_name
    from customer_segments
),

workspaces as (
    select
        workspace_id,
        customer_id
    from staging.product_workspaces
    where customer_id is not null
),

account_events as (
    select
        workspaces.customer_id,
        events.user_id,
        events.event_name,
        (events.occurred_at at time zone settings.time_zone)::date as activity_date
    from staging.product_events as events
    inner join workspaces
        on events.workspace_id = workspaces.workspace_id
    cross join settings
    where
        events.event_name not in ('session_start', 'session_end', 'heartbeat')
        and events.occurred_at >= settings.recompute_from::timestamp at time zone settings.time_zone
),

account_user_days as (
    select distinct
        customer_id,
        user_id,
        activity_date
    from account_events
),

account_feature_months as (
    select
        customer_id,
        date_trunc('month', activity_date)::date as month_start,
        count(distinct event_name) as features_adopted
    from account_events
    group by customer_id, month_start
),

account_activity_months as (
    select
        customer_id,
        date_trunc('month', activity_date)::date as month_start,
        count(*) as active_user_days
    from account_user_days
    group by customer_id, month_start
),

account_months as (
    select
        account_feature_months.customer_id,
        account_feature_months.month_start,
        account_feature_months.features_adopted,
        account_activity_months.active_user_days
    from account_feature_months
    inner join account_activity_months
        on
            account_feature_months.customer_id = account_activity_months.customer_id
            and account_feature_months.month_start = account_activity_months.month_start
),

month_lengths as (
    select
        months.month_start,
        extract(
            epoch from least(
                (months.month_start::timestamp + interval '1 month') at time zone settings.time_zone, settings.as_of
            ) - months.month_start::timestamp at time zone settings.time_zone
        ) / 86400 as elapsed_days
    from (select distinct month_start from customer_mrr) as months
    cross join settings
),

paying as (
    select
        with_previous_segment.month_start,
        with_previous_segment.segment_name,
        count(*) as paying_accounts,
        sum(with_previous_segment.mrr) as mrr,
        avg(with_previous_segment.mrr) as average_mrr,
        sum(coalesce(account_months.active_user_days, 0)) / max(month_lengths.elapsed_days)
        / count(*) as average_daily_active_users,
        avg(coalesce(account_months.features_adopted, 0)) as average_features_adopted
    from with_previous_segment
    inner join month_lengths
        on with_previous_segment.month_start = month_lengths.month_start
    left join account_months
        on
            with_previous_segment.customer_id = account_months.customer_id
            and with_previous_segment.month_start = account_months.month_start
    where
        with_previous_segment.mrr > 0
        and with_previous_segment.month_start >= (select settings.recompute_from from settings)
    group by with_previous_segment.month_start, with_previous_segment.segment_name
),

churned as (
    select
        month_start,
        previous_segment_name as segment_name,
        count(*) filter (where movement = 'churn') as churned_accounts,
        count(*) as starting_accounts
    from with_previous_segment
    where previous_segment_name is not null and month_start >= (select settings.recompute_from from settings)
    group by month_start, previous_segment_name
),

final as (
    select
        coalesce(paying.month_start, churned.month_start) as month_start,
        coalesce(paying.segment_name, churned.segment_name) as segment_name,
        coalesce(paying.paying_accounts, 0) as paying_accounts,
        coalesce(paying.mrr, 0) as mrr,
        paying.average_mrr,
        paying.average_daily_active_users,
        paying.average_features_adopted,
        coalesce(churned.starting_accounts, 0) as starting_accounts,
        coalesce(churned.churned_accounts, 0) as churned_accounts,
        churned.churned_accounts::numeric / nullif(churned.starting_accounts, 0) as churn_rate
    from paying
    full outer join churned
        on
            paying.month_start = churned.month_start
            and paying.segment_name = churned.segment_name
)

select * from final
