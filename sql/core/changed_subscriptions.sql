{% from 'macros/staging.sql' import changed_invoice_lines, extracted_by_plan with context %}
-- The subscriptions whose item states this run rebuilds, because core.subscription_item_states
-- is a merge by subscription. These are the subscriptions with a version extracted after the
-- plan's changed_since of raw_stripe.subscriptions, and those of the lines the run restaged.
-- When the states are rebuilt (their changed_since is -infinity), every subscription is listed.
with changed_versions as (
    select id as subscription_id
    from raw_stripe.subscriptions
    where
        {{ extracted_by_plan() }}
        and _airbyte_extracted_at > {{ bind('subscriptions_changed_since') }}::timestamptz
),

changed_lines as (
    select subscription as subscription_id
    from raw_stripe.invoice_line_items
    where
        {{ extracted_by_plan() }}
        and id in ({{ changed_invoice_lines(since='lines_changed_since') }})
),

every_version as (
    select id as subscription_id
    from raw_stripe.subscriptions
    where {{ bind('changed_since') }}::timestamptz = '-infinity'
),

final as (
    select subscription_id from changed_versions
    union
    select subscription_id from changed_lines
    union
    select subscription_id from every_version
)

select subscription_id from final
where subscription_id is not null
