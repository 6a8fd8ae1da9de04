-- Segment track events from the marketing site, one row per message id.
with source as (
    select distinct on (id) *
    from raw_segment.tracks
    order by id asc, _airbyte_extracted_at desc, _airbyte_raw_id asc
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
        properties
    from source
)

select * from final
