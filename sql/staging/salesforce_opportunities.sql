{% from 'macros/staging.sql' import latest_rows, quarantine_columns with context %}
-- Salesforce opportunities, one row per opportunity (the latest modification). An
-- opportunity without an Id is quarantined.
with source as (
    {{ latest_rows(
        'raw_salesforce.opportunity',
        '"Id"',
        '"SystemModstamp" desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc'
    ) }}
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
        coalesce("IsDeleted", false) as is_deleted,
        {{ quarantine_columns("case when \"Id\" is null then 'missing Id' end", '"Id"') }}
    from source
)

select * from final
