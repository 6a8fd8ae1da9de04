-- Feature adoption by signup cohort: of the users who signed up in each cohort period, how many
-- used the feature within the adoption window after signing up, and how many days the median
-- adopter took. Runs as the product-manager role and reads only the product_events views.
with settings as (
    select
        {{ bind('feature_event') }}::text as feature_event,
        {{ bind('signup_from') }}::date as signup_from,
        {{ bind('signup_to') }}::date as signup_to,
        {{ bind('cohort_grain') }}::text as cohort_grain,
        {{ bind('adoption_window_days') }}::integer as adoption_window_days,
        {{ bind('time_zone') }}::text as time_zone,
        {{ bind('as_of') }}::timestamptz as as_of
),

users as (
    select * from product_events.users
),

events as (
    select * from product_events.events
),

cohort_users as (
    select
        users.user_id,
        users.created_at as signed_up_at,
        (
            date_trunc(settings.cohort_grain, users.created_at, settings.time_zone) at time zone settings.time_zone
        )::date as cohort_start
    from users
    cross join settings
    where
        users.created_at >= settings.signup_from::timestamp at time zone settings.time_zone
        and users.created_at < (settings.signup_to + 1)::timestamp at time zone settings.time_zone
        and users.created_at < settings.as_of
),

first_uses as (
    select
        cohort_users.user_id,
        min(events.occurred_at) as first_used_at
    from cohort_users
    inner join events on cohort_users.user_id = events.user_id
    cross join settings
    where
        events.event_name = settings.feature_event
        and events.occurred_at >= cohort_users.signed_up_at
        and events.occurred_at < cohort_users.signed_up_at + make_interval(days => settings.adoption_window_days)
        and events.occurred_at < settings.as_of
    group by cohort_users.user_id
),

final as (
    select
        cohort_users.cohort_start,
        count(*) as cohort_users,
        count(first_uses.user_id) as adopted_users,
        round(count(first_uses.user_id)::numeric / count(*), 4) as adoption_rate,
        round(
            percentile_cont(0.5) within group (
                order by extract(epoch from first_uses.first_used_at - cohort_users.signed_up_at) / 86400
            )::numeric,
            2
        ) as median_days_to_adopt,
        -- True once every user of the cohort has had the whole adoption window before as_of.
        max(cohort_users.signed_up_at) + make_interval(days => max(settings.adoption_window_days))
        <= max(settings.as_of) as is_window_complete
    from cohort_users
    left join first_uses on cohort_users.user_id = first_uses.user_id
    cross join settings
    group by cohort_users.cohort_start
)

select * from final
order by cohort_start
