"""Raw table definitions, in the shape Airbyte's PostgreSQL destination (Direct Load) writes them.

Every Airbyte table starts with the four `_airbyte_*` columns, then one column per top-level
stream property. Nested objects are jsonb. Airbyte creates no primary keys or unique
constraints, so none are declared here. The finance tables are not written by Airbyte and have
no `_airbyte_*` columns.

Each column also has a `kind` that selects how the loader renders the generator's values.
`tstz` and `ts` columns contain unix seconds (`ts` as local wall-clock seconds), and all other
columns contain Python values or strings already in PostgreSQL text form.
"""

from __future__ import annotations

from dataclasses import dataclass

AIRBYTE_COLUMNS = (
    ("_airbyte_raw_id", "varchar not null", "text"),
    ("_airbyte_extracted_at", "timestamptz not null", "tstz"),
    ("_airbyte_meta", "jsonb not null", "json"),
    ("_airbyte_generation_id", "bigint", "int"),
)


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    kind: str

    @property
    def quoted_name(self) -> str:
        return f'"{self.name}"'


@dataclass(frozen=True)
class TableSpec:
    """One raw table: its schema, name, source and columns (Airbyte columns included)."""

    schema: str
    name: str
    source: str
    columns: tuple[Column, ...]
    airbyte: bool = True

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def index(self, column_name: str) -> int:
        return self.column_names.index(column_name)

    def create_statement(self) -> str:
        columns = ",\n    ".join(f"{c.quoted_name} {c.sql_type}" for c in self.columns)
        return f"create table if not exists {self.schema}.{self.name} (\n    {columns}\n)"

    def copy_statement(self) -> str:
        columns = ", ".join(column.quoted_name for column in self.columns)
        return f"copy {self.schema}.{self.name} ({columns}) from stdin"


def _kind(sql_type: str) -> str:
    base = sql_type.split("(")[0].split(" not null")[0]
    return {
        "varchar": "text",
        "bigint": "int",
        "boolean": "bool",
        "jsonb": "json",
        "numeric": "numeric",
        "timestamptz": "tstz",
        "timestamp": "ts",
        "date": "date",
    }[base]


def _table(schema: str, name: str, source: str, columns: str, airbyte: bool = True) -> TableSpec:
    """Build a TableSpec from "name type" lines; the `_airbyte_*` columns come first."""
    parsed = []
    if airbyte:
        parsed.extend(Column(n, t, k) for n, t, k in AIRBYTE_COLUMNS)
    for line in columns.strip().splitlines():
        column_name, sql_type = line.strip().rstrip(",").split(" ", 1)
        parsed.append(Column(column_name.strip('"'), sql_type, _kind(sql_type)))
    return TableSpec(schema, name, source, tuple(parsed), airbyte)


STRIPE_CUSTOMERS = _table(
    "raw_stripe",
    "customers",
    "stripe",
    """
    id varchar
    email varchar
    name varchar
    created bigint
    updated bigint
    currency varchar
    balance bigint
    delinquent boolean
    metadata jsonb
    address jsonb
    discount jsonb
    invoice_settings jsonb
    livemode boolean
    is_deleted boolean
""",
)

STRIPE_SUBSCRIPTIONS = _table(
    "raw_stripe",
    "subscriptions",
    "stripe",
    """
    id varchar
    customer varchar
    status varchar
    collection_method varchar
    currency varchar
    created bigint
    start_date bigint
    current_period_start bigint
    current_period_end numeric
    trial_start bigint
    trial_end numeric
    canceled_at numeric
    cancel_at numeric
    ended_at numeric
    cancel_at_period_end boolean
    billing_cycle_anchor numeric
    items jsonb
    plan jsonb
    quantity bigint
    discount jsonb
    metadata jsonb
    livemode boolean
    updated bigint
    is_deleted boolean
""",
)

STRIPE_INVOICES = _table(
    "raw_stripe",
    "invoices",
    "stripe",
    """
    id varchar
    customer varchar
    subscription varchar
    number varchar
    status varchar
    billing_reason varchar
    collection_method varchar
    currency varchar
    paid boolean
    amount_due bigint
    amount_paid bigint
    amount_remaining bigint
    subtotal bigint
    total bigint
    tax bigint
    created bigint
    period_start numeric
    period_end numeric
    updated bigint
    discount jsonb
    total_discount_amounts jsonb
    is_deleted boolean
""",
)

STRIPE_INVOICE_LINE_ITEMS = _table(
    "raw_stripe",
    "invoice_line_items",
    "stripe",
    """
    id varchar
    invoice_id varchar
    subscription varchar
    subscription_item varchar
    type varchar
    amount bigint
    amount_excluding_tax bigint
    currency varchar
    quantity bigint
    proration boolean
    period jsonb
    price jsonb
    discount_amounts jsonb
    description varchar
    invoice_updated bigint
""",
)

PRODUCT_WORKSPACES = _table(
    "raw_product",
    "workspaces",
    "product",
    """
    id bigint
    name varchar
    stripe_customer_id varchar
    plan_tier varchar
    country varchar
    writer varchar
    created_at timestamp
    updated_at timestamp
""",
)

PRODUCT_USERS = _table(
    "raw_product",
    "users",
    "product",
    """
    id bigint
    workspace_id bigint
    email varchar
    full_name varchar
    role varchar
    ip_address varchar
    writer varchar
    created_at timestamp
    last_seen_at timestamp
""",
)

PRODUCT_EVENTS = _table(
    "raw_product",
    "events",
    "product",
    """
    id bigint
    workspace_id bigint
    user_id bigint
    event_name varchar
    properties jsonb
    writer varchar
    occurred_at timestamp
""",
)

SEGMENT_TRACKS = _table(
    "raw_segment",
    "tracks",
    "segment",
    """
    id varchar
    anonymous_id varchar
    user_id varchar
    event varchar
    timestamp timestamptz
    received_at timestamptz
    context jsonb
    properties jsonb
""",
)

SALESFORCE_ACCOUNT = _table(
    "raw_salesforce",
    "account",
    "salesforce",
    """
    "Id" varchar
    "Name" varchar
    "Industry" varchar
    "NumberOfEmployees" bigint
    "Stripe_Customer_Id__c" varchar
    "CreatedDate" timestamptz
    "SystemModstamp" timestamptz
    "IsDeleted" boolean
""",
)

SALESFORCE_OPPORTUNITY = _table(
    "raw_salesforce",
    "opportunity",
    "salesforce",
    """
    "Id" varchar
    "AccountId" varchar
    "Name" varchar
    "StageName" varchar
    "Type" varchar
    "Amount" numeric(38,9)
    "CloseDate" date
    "IsClosed" boolean
    "IsWon" boolean
    "CreatedDate" timestamptz
    "SystemModstamp" timestamptz
    "IsDeleted" boolean
""",
)

AWS_COST_AND_USAGE = _table(
    "raw_aws_cost",
    "cost_and_usage",
    "aws_cost",
    """
    time_period_start date
    time_period_end date
    service varchar
    unblended_cost numeric(38,9)
    usage_quantity numeric(38,9)
    unit varchar
    estimated boolean
""",
)

ZENDESK_TICKETS = _table(
    "raw_zendesk",
    "tickets",
    "zendesk",
    """
    id bigint
    created_at timestamptz
    updated_at timestamptz
    status varchar
    priority varchar
    type varchar
    subject varchar
    requester_id bigint
    organization_id bigint
    via jsonb
    tags jsonb
    custom_fields jsonb
""",
)

FINANCE_ARR_REPORTED = _table(
    "raw_finance",
    "arr_reported",
    "finance",
    """
    month date
    reported_arr_usd numeric
    reported_at timestamptz
""",
    airbyte=False,
)

FINANCE_FX_RATES = _table(
    "raw_finance",
    "fx_rates_monthly",
    "finance",
    """
    month date
    currency varchar
    rate_to_usd numeric
""",
    airbyte=False,
)

AIRBYTE_TABLES = (
    STRIPE_CUSTOMERS,
    STRIPE_SUBSCRIPTIONS,
    STRIPE_INVOICES,
    STRIPE_INVOICE_LINE_ITEMS,
    PRODUCT_WORKSPACES,
    PRODUCT_USERS,
    PRODUCT_EVENTS,
    SEGMENT_TRACKS,
    SALESFORCE_ACCOUNT,
    SALESFORCE_OPPORTUNITY,
    AWS_COST_AND_USAGE,
    ZENDESK_TICKETS,
)
FINANCE_TABLES = (FINANCE_ARR_REPORTED, FINANCE_FX_RATES)
ALL_TABLES = AIRBYTE_TABLES + FINANCE_TABLES
TABLES_BY_NAME = {table.qualified_name: table for table in ALL_TABLES}
SCHEMAS = tuple(dict.fromkeys(table.schema for table in ALL_TABLES))

# Airbyte numbers its sync jobs; the generator gives each source one sync per day, and the
# source number keeps the ids of different sources apart (sync_id = day number * 10 + source).
SOURCE_NUMBERS = {"stripe": 1, "product": 2, "segment": 3, "salesforce": 4, "aws_cost": 5, "zendesk": 6}
