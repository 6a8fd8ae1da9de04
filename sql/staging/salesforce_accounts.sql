-- Salesforce accounts, one row per account (the latest modification), linked to Stripe.
with source as (
    select distinct on ("Id") *
    from raw_salesforce.account
    order by "Id" asc, "SystemModstamp" desc nulls last, _airbyte_extracted_at desc
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
        coalesce("IsDeleted", false) as is_deleted
    from source
)

select * from final
