{% from 'macros/staging.sql' import latest_rows, quarantine_columns with context %}
-- Salesforce accounts, one row per account (the latest modification), linked to Stripe. An
-- account without an Id is quarantined.
with source as (
    {{ latest_rows(
        'raw_salesforce.account',
        '"Id"',
        '"SystemModstamp" desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc'
    ) }}
),

final as (
    select
        "Id" as account_id,
        "Name" as account_name,
        "Industry" as industry,
        "NumberOfEmployees" as employee_count,
        "Stripe_Customer_Id__c" as customer_id,
        "CreatedDate" as created_at,
        "SystemModstamp" as modified_at,
        coalesce("IsDeleted", false) as is_deleted,
        {{ quarantine_columns("case when \"Id\" is null then 'missing Id' end", '"Id"') }}
    from source
)

select * from final
