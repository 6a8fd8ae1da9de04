-- Zendesk tickets, one row per ticket (the latest update), with the product workspace id
-- from the ticket's custom field 360001.
with source as (
    select distinct on (id) *
    from raw_zendesk.tickets
    order by id asc, updated_at desc nulls last, _airbyte_extracted_at desc
),

final as (
    select
        source.id as ticket_id,
        source.created_at,
        source.updated_at,
        source.status,
        source.priority,
        source.type as ticket_type,
        source.subject,
        source.requester_id,
        source.organization_id,
        jsonb_path_query_first(source.custom_fields, '$[*] ? (@.id == 360001).value') #>> '{}' as workspace_id,
        source.tags
    from source
)

select * from final
