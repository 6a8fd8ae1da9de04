-- Salesforce opportunities, one row per opportunity (the latest modification).
with source as (
    select distinct on ("Id") *
    from raw_salesforce.opportunity
    order by "Id" asc, "SystemModstamp" desc nulls last, _airbyte_extracted_at desc
),

final as (
    select
        "Id" as opportunity_id,
        "AccountId" as account_id,
        "Name" as opportunity_name,
        "StageName" as stage_name,
        "Type" as opportunity_type,
        "Amount" as amount,
        "CloseDate" as close_date,
        coalesce("IsClosed", false) as is_closed,
        coalesce("IsWon", false) as is_won,
        "CreatedDate" as created_at,
        "SystemModstamp" as modified_at,
        coalesce("IsDeleted", false) as is_deleted
    from source
)

select * from final
