"""
### Warehouse governance

Applies `include/config/governance.yml` to the warehouse. It creates the group roles (admin,
compliance, finance_admin, analyst, product_manager) and grants or revokes their privileges. It
builds the masked and audited views in `governed_<schema>` and the curated schema
`product_events`, and sets the statement timeout and connection limit of the product-manager
role and its members. docs/governance.md describes the model and what each role reads.

**Owner:** data-platform. **Schedule:** daily at 07:30 UTC, after `saas_metrics_daily` (07:00)
has rebuilt the tables, so that tables created by that run are governed the same morning.

**Triage:**
- "Invalid governance configuration": the task failed without retries. The message names the
  key, table or column to fix in governance.yml or warehouse_tables.yml.
- "refers to objects that do not exist": a tagged table or column is missing from the live
  warehouse and from warehouse_tables.yml; fix the name or declare the table.
- a pending table in the task's return value and a warning in its log: the table is not built
  yet. Nobody can read it, and it is governed on the first run after it exists; its status is in
  `governance.table_status`.
- "is not managed by governance": a role or schema of that name was created by hand. Rename it,
  or set `role_prefix`.
- "Privileges ... still differ": another role granted privileges to a governed role; revoke them
  as that grantor.

**Rerun safety:** the apply compares the configuration with the catalog and issues only the
difference in one transaction, so a rerun changes nothing unless the configuration or the
tables changed, and a failed run leaves the previous state. Trigger with `dry_run` to see the
statements without applying them.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

from saas_metrics.dag_defaults import default_args

with DAG(
    dag_id="warehouse_governance",
    description="Roles, grants, masked views and self-service limits from governance.yml",
    schedule=CronDataIntervalTimetable("30 7 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params={
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Execute and report every statement, then roll back instead of committing.",
        ),
    },
    tags=["governance"],
    doc_md=__doc__,
) as dag:

    @task
    def apply_governance(params=None):
        from saas_metrics.governance.apply import apply_with_connection

        return apply_with_connection("warehouse", dry_run=params["dry_run"])

    apply_governance()
