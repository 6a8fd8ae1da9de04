{% from 'macros/staging.sql' import changed_keys, latest_rows, quarantine_columns with context %}
-- Zendesk tickets, one row per ticket (the latest update), with the product workspace id
-- from the ticket's custom field 360001. A ticket without an id is quarantined.
with source as (
    {{ latest_rows(
        'raw_zendesk.tickets',
        'id',
        'updated_at desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc',
        changed=changed_keys('raw_zendesk.tickets', 'id')
    ) }}
),

final as (
    select
        id as ticket_id,
        created_at,
        updated_at,
        status,
        priority,
        type as ticket_type,
        subject,
        requester_id,
        organization_id,
        jsonb_path_query_first(custom_fields, '$[*] ? (@.id == 360001).value') #>> '{}' as workspace_id,
        tags,
        {{ quarantine_columns("case when id is null then 'missing id' end", 'id') }}
    from source
)

select * from final
