{% from 'macros/staging.sql' import changed_keys, latest_rows, quarantine_columns with context %}
-- Segment track events from the marketing site, one row per message id. A message without an
-- id or a timestamp is quarantined.
with source as (
    {{ latest_rows(
        'raw_segment.tracks',
        'id',
        '_airbyte_extracted_at desc, _airbyte_raw_id asc',
        changed=changed_keys('raw_segment.tracks', 'id')
    ) }}
),

final as (
    select
        id as message_id,
        anonymous_id,
        user_id,
        lower(event) as event_name,
        timestamp as occurred_at,
        received_at,
        context,
        properties,
        {{ quarantine_columns(
            "case when id is null then 'missing id' when timestamp is null then 'missing timestamp' end",
            'id'
        ) }}
    from source
)

select * from final
