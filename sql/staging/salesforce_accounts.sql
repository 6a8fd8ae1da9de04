{% from 'macros/staging.sql' import extracted_by_plan, quarantine_columns with context %}
-- Salesforce accounts, one row per account (the latest modification), linked to Stripe. An
-- account without an Id is quarantined.
with ranked as (
    select
        *,
        row_number() over (
            partition by "Id"
            order by "SystemModstamp" desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id asc
        ) as version_rank
    from raw_salesforce.account
    where {{ extracted_by_plan() }}
),

source as (
    select * from ranked
    where version_rank = 1 or "Id" is null
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
