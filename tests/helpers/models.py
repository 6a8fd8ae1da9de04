"""Run the daily DAG's SQL models directly, with the DAG's own rendering, on a test database.

Model tests insert a few hand-made raw rows, then call `run_models` to render and write each
model exactly as the DAG's SqlTransformOperator tasks would, without the cost of a DAG run.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAILY_DAG_ID = "saas_metrics_daily"


@lru_cache(maxsize=1)
def daily_dag():
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "saas_metrics_daily.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[DAILY_DAG_ID]


def sql_model_tasks():
    """The DAG's SqlTransformOperator tasks in dependency order."""
    from saas_metrics.operators.sql_transform import SqlTransformOperator

    return [task for task in daily_dag().topological_sort() if isinstance(task, SqlTransformOperator)]


def run_models(
    conn,
    as_of: dt.datetime,
    *,
    only: set[str] | None = None,
    parameters: dict | None = None,
    params: dict | None = None,
    recompute_from: str = "1970-01-01",
    plan: dict | None = None,
):
    """Render and run every model task (or those named in `only`, without group prefix) as of `as_of`.

    Models read the plan_recompute task's result from `plan` when given, else from a plan in
    which every domain recomputes from `recompute_from` (the default rewrites every month).
    Merged staging tables are rebuilt unless the plan gives their `changed_since`.
    """
    from saas_metrics.incremental import DOMAINS, INCREMENTAL_SOURCES
    from saas_metrics.operators.sql_transform import run_transform

    plan = plan or {
        "recompute_from": recompute_from,
        "recompute_from_by_domain": dict.fromkeys(DOMAINS, recompute_from),
        "extracted_until": "infinity",
    }
    plan = {"changed_since": {source.table: "-infinity" for source in INCREMENTAL_SOURCES}, **plan}

    dag = daily_dag()
    results = {}
    for task in sql_model_tasks():
        if only is not None and task.task_id.split(".")[-1] not in only:
            continue
        rendered = copy.copy(task)
        rendered.parameters = dict(task.parameters)
        context = {
            "data_interval_start": as_of - dt.timedelta(days=1),
            "data_interval_end": as_of,
            "params": {**{key: dag.params[key] for key in dag.params}, **task.params, **(params or {})},
            "task": rendered,
            "dag": dag,
            "ti": _PlanOnlyTaskInstance(plan),
        }
        rendered.render_template_fields(context, jinja_env=dag.get_template_env())
        parameters_with_overrides = {**rendered.parameters, **(parameters or {})}
        results[task.task_id.split(".")[-1]] = run_transform(
            conn,
            sql=rendered.sql,
            target=rendered.target,
            materialization=rendered.materialization,
            partition_filter=rendered.partition_filter,
            parameters=parameters_with_overrides,
            quarantine_source=rendered.quarantine_source,
            unique_key=rendered.unique_key,
            changed_since=rendered.changed_since,
            merge_keys=rendered.merge_keys,
            indexes=rendered.indexes,
        )
    return results


class _PlanOnlyTaskInstance:
    """Stands in for the task instance in templates: xcom_pull returns the recompute plan."""

    def __init__(self, plan: dict):
        self.plan = plan

    def xcom_pull(self, task_ids=None, **kwargs):
        assert task_ids == "plan_recompute", task_ids
        return self.plan


def create_raw_tables(conn) -> None:
    """Create every raw table the demo generator writes, empty."""
    from include.demo_data.schema import ALL_TABLES, SCHEMAS

    for schema in SCHEMAS:
        conn.execute(f"create schema if not exists {schema}")
    for table in ALL_TABLES:
        conn.execute(table.create_statement())
    conn.commit()


def unix(value: str) -> int:
    """Unix seconds of an ISO timestamp; a naive value is read as UTC."""
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


def price(
    unit_amount, currency="usd", interval="month", interval_count=1, usage_type="licensed", price_type="recurring"
):
    return {
        "id": f"price_{interval}_{unit_amount}_{currency}",
        "object": "price",
        "currency": currency,
        "unit_amount": unit_amount,
        "type": price_type,
        "recurring": {"interval": interval, "interval_count": interval_count, "usage_type": usage_type},
    }


def insert_subscription_version(
    conn,
    *,
    subscription_id: str,
    customer_id: str,
    updated: str,
    status: str = "active",
    items: list[tuple[dict, object]] | None = None,
    currency: str = "usd",
    discount: dict | None = None,
    extracted_at: str | None = None,
    **extra,
) -> None:
    """Insert one raw Stripe subscription version; `items` is a list of (price, quantity)."""
    data = [
        {
            "id": f"si_{subscription_id}_{position}",
            "object": "subscription_item",
            "quantity": quantity,
            "price": item_price,
        }
        for position, (item_price, quantity) in enumerate(items or [])
    ]
    row = {
        "_airbyte_raw_id": str(uuid.uuid4()),
        "_airbyte_extracted_at": extracted_at or updated,
        "_airbyte_meta": json.dumps({"sync_id": 1, "changes": []}),
        "_airbyte_generation_id": 0,
        "id": subscription_id,
        "customer": customer_id,
        "status": status,
        "currency": currency,
        "created": unix(updated),
        "updated": unix(updated),
        "items": json.dumps({"object": "list", "data": data}),
        "discount": json.dumps(discount) if discount else None,
        "cancel_at_period_end": extra.pop("cancel_at_period_end", False),
        **extra,
    }
    columns = ", ".join(row)
    placeholders = ", ".join(f"%({name})s" for name in row)
    conn.execute(f"insert into raw_stripe.subscriptions ({columns}) values ({placeholders})", row)


def insert_fx_rate(conn, month: str, currency: str, rate: str) -> None:
    conn.execute(
        "insert into raw_finance.fx_rates_monthly (month, currency, rate_to_usd) values (%s, %s, %s)",
        (month, currency, rate),
    )


def insert_invoice_line(
    conn,
    *,
    line_id: str,
    invoice_id: str,
    customer_id: str,
    subscription_id: str,
    period: tuple[str, str],
    item_price: dict,
    quantity: int = 1,
    proration: bool = False,
    discount_minor: int = 0,
    invoice_status: str = "paid",
    line_type: str = "subscription",
    billing_reason: str | None = None,
) -> None:
    """Insert one invoice line and, if missing, its invoice (status, billing reason and customer only)."""
    envelope = {
        "_airbyte_raw_id": str(uuid.uuid4()),
        "_airbyte_extracted_at": f"{period[0]}T00:00:00Z",
        "_airbyte_meta": json.dumps({"sync_id": 1, "changes": []}),
        "_airbyte_generation_id": 0,
    }
    exists = conn.execute("select 1 from raw_stripe.invoices where id = %s", (invoice_id,)).fetchone()
    if not exists:
        invoice = {**envelope, "id": invoice_id, "customer": customer_id, "subscription": subscription_id,
                   "status": invoice_status, "currency": item_price["currency"], "updated": unix(period[0]),
                   "billing_reason": billing_reason}
        conn.execute(
            f"insert into raw_stripe.invoices ({', '.join(invoice)}) values ({', '.join(['%s'] * len(invoice))})",
            list(invoice.values()),
        )
    line = {
        **envelope,
        "id": line_id,
        "invoice_id": invoice_id,
        "subscription": subscription_id,
        "subscription_item": f"si_{subscription_id}_0",
        "type": line_type,
        "amount": item_price["unit_amount"] * quantity - discount_minor,
        "currency": item_price["currency"],
        "quantity": quantity,
        "proration": proration,
        "period": json.dumps({"start": unix(period[0]), "end": unix(period[1])}),
        "price": json.dumps(item_price),
        "discount_amounts": json.dumps([{"amount": discount_minor, "discount": "di_1"}] if discount_minor else []),
        "invoice_updated": unix(period[0]),
    }
    conn.execute(
        f"insert into raw_stripe.invoice_line_items ({', '.join(line)}) values ({', '.join(['%s'] * len(line))})",
        list(line.values()),
    )


def models_upstream_of(*task_names: str) -> set[str]:
    """Names of the model tasks needed to build `task_names`, themselves included."""
    wanted = set(task_names)
    names = set()
    for task in sql_model_tasks():
        short_name = task.task_id.split(".")[-1]
        if short_name in wanted:
            names.add(short_name)
            names.update(
                relative.task_id.split(".")[-1] for relative in task.get_flat_relatives(upstream=True)
            )
    return names


def insert_raw(conn, table: str, values: dict) -> None:
    """Insert one row into a raw table, with the Airbyte columns filled in."""
    row = {
        "_airbyte_raw_id": str(uuid.uuid4()),
        "_airbyte_extracted_at": "2026-01-01T00:00:00Z",
        "_airbyte_meta": json.dumps({"sync_id": 1, "changes": []}),
        "_airbyte_generation_id": 0,
        **values,
    }
    columns = ", ".join(f'"{name}"' for name in row)
    conn.execute(f"insert into {table} ({columns}) values ({', '.join(['%s'] * len(row))})", list(row.values()))


def insert_workspace(conn, workspace_id: int, *, created_at: str, customer_id=None, plan_tier="team",
                     writer="app") -> None:
    """Insert a product workspace; `created_at` is wall-clock time as the product database stores it."""
    insert_raw(conn, "raw_product.workspaces", {
        "id": workspace_id, "name": f"Workspace {workspace_id}", "stripe_customer_id": customer_id,
        "plan_tier": plan_tier, "writer": writer, "created_at": created_at, "updated_at": created_at,
    })


def insert_event(conn, event_id: int, *, workspace_id: int, user_id: int, occurred_at: str,
                 event_name="report_create", writer="app") -> None:
    """Insert a product event; `occurred_at` is wall-clock time as the product database stores it."""
    insert_raw(conn, "raw_product.events", {
        "id": event_id, "workspace_id": workspace_id, "user_id": user_id, "event_name": event_name,
        "writer": writer, "occurred_at": occurred_at,
    })


def insert_aws_cost(conn, cost_date: str, service: str, cost: str, unit="USD") -> None:
    day = dt.date.fromisoformat(cost_date)
    insert_raw(conn, "raw_aws_cost.cost_and_usage", {
        "time_period_start": day, "time_period_end": day + dt.timedelta(days=1), "service": service,
        "unblended_cost": cost, "usage_quantity": 1, "unit": unit, "estimated": False,
    })
