"""
### Product-manager self-service: {title}

{description}

Trigger this DAG with **Trigger** and fill in the form. The query runs in the warehouse as the
`product_manager` role, so it reads only what that role may read: the `analytics` schema and the
curated `product_events` views, without email, IP address, name or payment data. It is rejected
before it runs when EXPLAIN estimates that it would scan more than the role's `max_scan_rows`.
Every form value is bound as a query parameter, never pasted into the SQL.

**Results:** the rows go to the table `{result_table}` (with the run's `query_id`) and to a CSV
file under `output/self_service/{name}/` (the folder is set by `SAAS_METRICS_OUTPUT_DIR`); the
task's return value has both. Every run, rejected ones included, is recorded in
`analytics.query_audit_log` with who triggered it, the parameters, the row count and the
duration.

**Owner:** data-platform (templates and guardrails); product managers own their questions.

**Triage:**
- "would scan about N rows": narrow the date range; the limit is in include/config/governance.yml.
- "template queries are already running": three product-manager template queries run at most at
  once; trigger again later.
- "cancelled after the 120 s runtime limit": narrow the date range or ask data-platform.
- "permission denied" or "does not exist": the `warehouse_governance` DAG has not applied the
  roles and views yet, or the daily pipeline has not built the product tables.

**Rerun safety:** each run only appends its own rows, keyed by a new `query_id`, and changes no
other data, so reruns never change earlier results. Rejected and timed-out queries fail without retries.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from saas_metrics.dag_defaults import default_args
from saas_metrics.governance.templates import TEMPLATES

for template in TEMPLATES:
    with DAG(
        dag_id=f"self_service_{template.name}",
        description=template.title,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        # The runner allows three product-manager queries at once across all templates.
        max_active_runs=3,
        default_args=default_args(retry_delay_minutes=1),
        params={name: Param(spec.default, **spec.schema) for name, spec in template.params.items()},
        tags=["governance"],
        doc_md=__doc__.format(
            title=template.title,
            description=template.description,
            result_table=template.result_table,
            name=template.name,
        ),
    ) as dag:

        @task
        def run_template(template_name: str, params=None, dag_run=None, logical_date=None):
            from saas_metrics.governance.self_service import run_template_with_connection

            return run_template_with_connection(
                "warehouse",
                template_name,
                dict(params),
                requested_by=dag_run.triggering_user_name or f"airflow {dag_run.run_type}",
                as_of=logical_date or dag_run.run_after,
                dag_id=dag_run.dag_id,
                dag_run_id=dag_run.run_id,
            )

        run_template(template.name)
