"""
### SaaS metrics, daily

Builds the canonical subscription metrics from the raw source tables: staging (types, UTC,
duplicates collapsed, bad rows quarantined), subscription item states, and the monthly MRR
tables `analytics.customer_mrr_monthly` and `analytics.mrr_monthly`. On these it builds the
other metrics and the reconciliations against Stripe invoices and finance's ARR. Then
`quality_gate` runs the Soda contracts in `soda_checks/` (see docs/quality.md),
`evaluate_alerts` evaluates the alert rules (docs/alerts.md), and `save_pipeline_state`
records what the run processed, so that the next run recomputes only the months that changed
(`plan_recompute`, per input domain: billing, product, accounts, costs, invoices; docs/metrics.md).

**Owner:** data-platform. **Schedule:** daily at 07:00 UTC for the interval
[previous day 07:00, this day 07:00); the end of the interval is the "now" of every model.

**Ingestion:** `include/config/sources.yml` (or the environment variable
`SAAS_METRICS_INGESTION`) chooses the mode. With `airbyte`, the group `ingest` runs one
Airbyte sync per source and records each attempt in `analytics.ingestion_health`. With
`demo` (the local default), the task `load_demo_data` stands in for the syncs: it generates
the demo company as of the interval end and replaces the raw tables.

**Triage:**
- an `ingest.sync_<source>` task failed: its log names the Airbyte job and status; see
  docs/airbyte.md for each failure mode. Clearing the task attaches to a job still running.
- `load_demo_data` failed: read its log for the table and row count reached.
- a staging or core model failed: the model's transaction was rolled back, so its table
  still holds the previous run's rows. Fix the cause and clear the task.
- `customer_mrr_monthly` failed with "Missing FX rate": add the rate for that currency and
  month to `raw_finance.fx_rates_monthly`, or, when the month has two different rates (both
  are in `staging.quarantine`), delete the wrong one; then clear the task.
- rows in `staging.quarantine`: each has its source table, key and reason; the warning
  `rows_quarantined` counts them. `analytics.row_accounting` shows per source and run where
  every raw row went; the gate blocks when `every_raw_row_accounted_for` is not 0 (a staging
  model dropped or duplicated rows), and the log of `report_row_accounting` names the source.
- `quality_gate` failed: its message lists each blocking check with its value and threshold,
  and `analytics.data_quality_results` has every result of the run. Fix the data or the model,
  rerun the affected tasks, then clear `quality_gate`. Warnings do not fail the run; they are
  logged (and sent to Slack when SAAS_METRICS_QUALITY_SLACK_CONN_ID is set).

- `evaluate_alerts` failed: a fired alert reached no channel, or a metric query failed; the
  log names the rule. A retry resends only undelivered alerts.

**Rerun safety:** every task replaces exactly the table or months it owns inside one
transaction, so clearing a task, rerunning a run, or backfilling a range gives the same tables.
Backfill from the CLI with `airflow backfill create --dag-id saas_metrics_daily --from-date ...
--to-date ...`; the last day of the range decides the provisional (open) month.
"""

from __future__ import annotations

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup, chain, task

from saas_metrics.config import load_metrics_config
from saas_metrics.dag_defaults import DAILY_START_DATE, default_args
from saas_metrics.incremental import INCREMENTAL_SOURCES
from saas_metrics.ingestion import build_ingestion_group, load_sources
from saas_metrics.models import (
    EVENTS_PARTITION_FILTER,
    EXTRACTED_UNTIL,
    MONTH_WINDOW_FILTER,
    UTC_MONTH_WINDOW_FILTER,
    changed_since_template,
    day_window_filter,
    recompute_from_template,
    sql_model,
)
from saas_metrics.operators.alerts import evaluate_alerts_task
from saas_metrics.operators.quality_gate import QualityGateOperator
from saas_metrics.paths import SQL_DIR

CONFIG = load_metrics_config()
SOURCES = load_sources()
PRODUCT_TABLES = ("workspaces", "users", "events")
# Columns of the staged product tables that later reads look up: product_metrics_daily and
# segment_metrics read the events of their window, and the plan looks up the staged copy of each
# workspace extracted since the last run.
PRODUCT_INDEXES = {"events": ("occurred_at",), "workspaces": ("workspace_id",)}
# The raw tables whose changes reach core.subscription_item_states.
STATE_INPUTS = ("raw_stripe.subscriptions", "raw_stripe.invoice_line_items", "raw_stripe.invoices")

with DAG(
    dag_id="saas_metrics_daily",
    description="Canonical MRR, ARR and movements from the raw sources, every day",
    schedule=CronDataIntervalTimetable("0 7 * * *", timezone="UTC"),
    start_date=DAILY_START_DATE,
    catchup=False,
    max_active_runs=1,
    template_searchpath=[str(SQL_DIR)],
    default_args=default_args(notify_failures=True),
    params={
        "demo_seed": Param(42, type="integer", description="Seed of the demo data generator"),
        "demo_scale": Param(
            1.0, type="number", minimum=0.01, maximum=20, description="Size of the demo company"
        ),
        "demo_history_start": Param(
            "auto",
            type="string",
            pattern=r"^(auto|\d{4}-\d{2}-01)$",
            description="First month of demo history (YYYY-MM-01), or auto for 24 months",
        ),
    },
    tags=["metrics", "daily"],
    doc_md=__doc__,
) as dag:
    setup_warehouse = sql_model(
        "setup/warehouse.sql", config=CONFIG, materialization="script", task_id="setup_warehouse"
    )

    @task
    def load_demo_data(params=None, data_interval_end=None):
        from saas_metrics.demo import load_demo_company

        return load_demo_company(
            conn_id="warehouse",
            until=data_interval_end,
            seed=params["demo_seed"],
            scale=params["demo_scale"],
            history_start=params["demo_history_start"],
        )

    # One Airbyte sync task per source, or, in demo mode, the visible demo loader in their place.
    ingestion = build_ingestion_group(config=SOURCES) if SOURCES.uses_airbyte else load_demo_data()

    @task
    def plan_recompute(data_interval_start=None, data_interval_end=None):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from saas_metrics.incremental import plan_recompute as make_plan

        with PostgresHook(postgres_conn_id="warehouse").get_conn() as conn:
            plan = make_plan(
                conn, data_interval_start=data_interval_start, data_interval_end=data_interval_end, config=CONFIG
            )
            return plan.as_xcom()

    recompute_plan = plan_recompute()

    with TaskGroup("normalize_timezones") as normalize_timezones:
        product_models = []
        for table in PRODUCT_TABLES:
            rule = CONFIG.correction_for(f"raw_product.{table}")
            is_events = table == "events"
            product_models.append(
                sql_model(
                    f"staging/product_{table}.sql",
                    config=CONFIG,
                    params={"timezone_rule": rule.as_template_params() if rule else None},
                    parameters={
                        "local_time_zone": rule.local_time_zone if rule else "UTC",
                        "local_time_markers": list(rule.marker_values) if rule else [],
                    },
                    incremental=("product",) if is_events else (),
                    quarantine_source=f"raw_product.{table}",
                    merge_key="user_id" if table == "users" else None,
                    materialization="partition" if is_events else "table",
                    partition_filter=EVENTS_PARTITION_FILTER if is_events else None,
                    indexes=PRODUCT_INDEXES.get(table, ()),
                )
            )

        @task
        def report_timezone_conversions(recompute_from: str):
            from saas_metrics.demo import count_timezone_conversions

            return count_timezone_conversions(
                conn_id="warehouse",
                tables=[f"staging.product_{table}" for table in PRODUCT_TABLES],
                rewritten={"staging.product_events": EVENTS_PARTITION_FILTER},
                parameters={"recompute_from": recompute_from},
            )

        chain(product_models, report_timezone_conversions(recompute_from_template(["product"])))

    with TaskGroup("stage_stripe") as stage_stripe:
        currencies = sql_model("staging/currencies.sql", config=CONFIG)
        fx_rates = sql_model(
            "staging/fx_rates_monthly.sql", config=CONFIG, quarantine_source="raw_finance.fx_rates_monthly"
        )
        items = sql_model(
            "staging/stripe_subscription_items.sql",
            config=CONFIG,
            quarantine_source="raw_stripe.subscriptions",
            merge_key="subscription_id",
        )
        chain(currencies, items)

        chain(currencies, fx_rates)
        sql_model("staging/stripe_customers.sql", config=CONFIG, quarantine_source="raw_stripe.customers")
        invoices = sql_model(
            "staging/stripe_invoices.sql",
            config=CONFIG,
            quarantine_source="raw_stripe.invoices",
            merge_key="invoice_id",
        )
        invoice_lines = sql_model(
            "staging/stripe_invoice_line_items.sql",
            config=CONFIG,
            quarantine_source="raw_stripe.invoice_line_items",
            merge_key="invoice_line_id",
            parameters={"invoices_changed_since": changed_since_template("raw_stripe.invoices")},
            # The Stripe reconciliation reads the lines whose period ends in its window, and the
            # subscription states the lines of the subscriptions they rebuild.
            indexes=("period_end_at", "subscription_id"),
        )
        chain(currencies, invoices, invoice_lines)

    with TaskGroup("stage_crm_and_support") as stage_crm_and_support:
        sql_model(
            "staging/segment_tracks.sql", config=CONFIG, quarantine_source="raw_segment.tracks", merge_key="message_id"
        )
        sql_model("staging/salesforce_accounts.sql", config=CONFIG, quarantine_source="raw_salesforce.account")
        sql_model(
            "staging/salesforce_opportunities.sql", config=CONFIG, quarantine_source="raw_salesforce.opportunity"
        )
        sql_model(
            "staging/zendesk_tickets.sql", config=CONFIG, quarantine_source="raw_zendesk.tickets", merge_key="ticket_id"
        )

    # States are rebuilt for the subscriptions with changed versions or restaged invoice lines.
    changed_subscriptions = sql_model(
        "core/changed_subscriptions.sql",
        config=CONFIG,
        parameters={
            "extracted_until": EXTRACTED_UNTIL,
            "subscriptions_changed_since": changed_since_template("raw_stripe.subscriptions"),
            "lines_changed_since": changed_since_template("raw_stripe.invoice_line_items"),
            "invoices_changed_since": changed_since_template("raw_stripe.invoices"),
            # The states' own changed_since: -infinity when any of their inputs is read in full.
            "changed_since": changed_since_template(*STATE_INPUTS),
        },
    )
    subscription_states = sql_model(
        "core/subscription_item_states.sql",
        config=CONFIG,
        parameters={"extracted_until": EXTRACTED_UNTIL},
        merge_key="subscription_id",
        merged_from=STATE_INPUTS,
        merge_keys="core.changed_subscriptions",
    )
    chain(changed_subscriptions, subscription_states)

    with TaskGroup("compute_mrr") as compute_mrr:
        customer_mrr = sql_model(
            "analytics/customer_mrr_monthly.sql",
            config=CONFIG,
            materialization="partition",
            partition_filter=MONTH_WINDOW_FILTER,
            incremental=("billing",),
            params={"churn_timing": CONFIG.churn_timing},
            # The plan looks up the first month a relinked workspace's customers paid in.
            indexes=(("customer_id", "month_start"),),
        )
        mrr_monthly = sql_model(
            "analytics/mrr_monthly.sql",
            config=CONFIG,
            materialization="partition",
            partition_filter=MONTH_WINDOW_FILTER,
            incremental=("billing",),
        )
        chain(customer_mrr, mrr_monthly)

    with TaskGroup("reconcile") as reconcile:
        sql_model(
            "analytics/mrr_reconciliation.sql",
            config=CONFIG,
            materialization="partition",
            partition_filter=MONTH_WINDOW_FILTER,
            incremental=("billing", "invoices"),
        )
        sql_model("analytics/arr_reconciliation.sql", config=CONFIG)

    compute_ndr = sql_model(
        "analytics/ndr_monthly.sql",
        config=CONFIG,
        task_id="compute_ndr",
        materialization="partition",
        partition_filter=MONTH_WINDOW_FILTER,
        incremental=("billing",),
    )

    with TaskGroup("compute_churn") as compute_churn:
        sql_model("analytics/churn_monthly.sql", config=CONFIG)
        sql_model(
            "analytics/churn_timing_comparison.sql",
            config=CONFIG,
            materialization="partition",
            partition_filter=MONTH_WINDOW_FILTER,
            incremental=("billing",),
        )

    with TaskGroup("compute_cohorts") as compute_cohorts:
        cohort_retention = sql_model("analytics/cohort_retention.sql", config=CONFIG)
        cohort_average = sql_model("analytics/cohort_retention_average.sql", config=CONFIG)
        active_months = sql_model(
            "core/workspace_active_months.sql",
            config=CONFIG,
            materialization="partition",
            partition_filter=UTC_MONTH_WINDOW_FILTER,
            incremental=("product",),
        )
        product_cohorts = sql_model("analytics/product_cohort_retention.sql", config=CONFIG)
        chain(cohort_retention, cohort_average)
        chain(active_months, product_cohorts)

    compute_product_metrics = sql_model(
        "analytics/product_metrics_daily.sql",
        config=CONFIG,
        task_id="compute_product_metrics",
        materialization="partition",
        partition_filter=day_window_filter("activity_date"),
        incremental=("product",),
    )

    with TaskGroup("compute_infrastructure_costs") as compute_infrastructure_costs:
        aws_costs = sql_model(
            "staging/aws_costs_daily.sql", config=CONFIG, quarantine_source="raw_aws_cost.cost_and_usage"
        )
        cost_daily = sql_model(
            "analytics/infrastructure_cost_daily.sql",
            config=CONFIG,
            materialization="partition",
            partition_filter=day_window_filter("cost_date"),
            incremental=("costs", "product"),
        )
        cost_by_service = sql_model(
            "analytics/infrastructure_cost_by_service_daily.sql",
            config=CONFIG,
            materialization="partition",
            partition_filter=day_window_filter("cost_date"),
            incremental=("costs",),
        )
        chain(aws_costs, [cost_daily, cost_by_service])

    compute_segments = sql_model(
        "analytics/segment_metrics.sql",
        config=CONFIG,
        task_id="compute_segments",
        materialization="partition",
        partition_filter=MONTH_WINDOW_FILTER,
        incremental=("billing", "product", "accounts"),
    )

    # Where every raw row went (staged, quarantined or collapsed), recorded for each run.
    row_accounting = sql_model(
        "analytics/row_accounting.sql",
        config=CONFIG,
        materialization="partition",
        partition_filter="as_of = %(as_of)s::timestamptz",
        parameters={
            "extracted_until": EXTRACTED_UNTIL,
            **{
                f"{source.table.replace('.', '_')}_since": changed_since_template(source.table)
                for source in INCREMENTAL_SOURCES
            },
        },
    )

    @task
    def report_row_accounting(data_interval_end=None):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from saas_metrics.row_accounting import report_row_accounting as report

        with PostgresHook(postgres_conn_id="warehouse").get_conn() as conn:
            return report(conn, data_interval_end)

    evaluate_alerts = evaluate_alerts_task()

    @task
    def save_pipeline_state(plan: dict):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from saas_metrics.incremental import save_pipeline_state as save_state

        with PostgresHook(postgres_conn_id="warehouse").get_conn() as conn:
            save_state(conn, plan)

    pipeline_state = save_pipeline_state(recompute_plan)

    # Finance reports a month's ARR days after it closes; the monthly board DAG checks it.
    quality_gate = QualityGateOperator(
        task_id="quality_gate",
        exclude_checks=["arr_matches_finance"],
        # Contracts of tables written by month check the months this run rewrote, and those of raw
        # tables read by change the rows extracted since the run's changed_since (docs/quality.md).
        variables={"recompute_from": "{{ ti.xcom_pull(task_ids='plan_recompute')['recompute_from'] }}"},
        extracted_since_by_table="{{ ti.xcom_pull(task_ids='plan_recompute')['changed_since'] | tojson }}",
    )

    metrics = [reconcile, compute_ndr, compute_churn, compute_cohorts, compute_segments, compute_infrastructure_costs]
    chain(setup_warehouse, ingestion, recompute_plan, normalize_timezones, stage_stripe, changed_subscriptions)
    chain(subscription_states, compute_mrr, [reconcile, compute_ndr, compute_churn, compute_cohorts, compute_segments])
    chain(normalize_timezones, compute_product_metrics, compute_infrastructure_costs)
    chain(recompute_plan, stage_crm_and_support, evaluate_alerts)
    chain(normalize_timezones, [active_months, compute_segments])
    chain(
        [normalize_timezones, stage_stripe, stage_crm_and_support, aws_costs],
        row_accounting,
        report_row_accounting(),
        quality_gate,
    )
    chain(metrics, quality_gate, evaluate_alerts, pipeline_state)
