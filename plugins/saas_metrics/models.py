"""Task factory for SQL models, so that DAG files declare models in one line each."""

from __future__ import annotations

from typing import Any

from saas_metrics.config import MetricsConfig
from saas_metrics.operators.sql_transform import SqlTransformOperator

# The end of the run's data interval is the "now" of every model. Incremental models rewrite
# the months from the plan's `recompute_from` (see saas_metrics.incremental) up to the month
# still open at that instant in the reporting time zone; later months are left alone.
OPEN_MONTH = (
    "date_trunc('month', (%(as_of)s::timestamptz - interval '1 microsecond') "
    "at time zone %(reporting_time_zone)s)::date"
)
MONTH_WINDOW_FILTER = f"month_start >= %(recompute_from)s::date and month_start <= {OPEN_MONTH}"

# Weekly models own the rows of their report week: the last complete ISO week (Monday 00:00
# UTC) before the end of the run's data interval.
REPORT_WEEK_START = "(date_trunc('week', %(as_of)s::timestamptz at time zone 'UTC') - interval '7 days')::date"
REPORT_WEEK_FILTER = f"week_start = {REPORT_WEEK_START}"


def day_window_filter(column: str) -> str:
    """Partition of a daily table: the recomputed days, up to the last complete UTC day."""
    return (
        f"{column} >= %(recompute_from)s::date "
        f"and {column} < (%(as_of)s::timestamptz at time zone 'UTC')::date"
    )


RECOMPUTE_FROM = "{{ ti.xcom_pull(task_ids='plan_recompute')['recompute_from'] }}"


def sql_model(
    path: str,
    *,
    config: MetricsConfig,
    target: str | None = None,
    materialization: str = "table",
    partition_filter: str | None = None,
    parameters: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    task_id: str | None = None,
    incremental: bool = False,
) -> SqlTransformOperator:
    """Create the task that runs sql/<path> and writes `target` (default: the path's layer.name).

    With `incremental`, the model also gets the bound parameter `recompute_from` from the
    plan_recompute task, which must run upstream.
    """
    layer, name = path.removesuffix(".sql").split("/")[-2:]
    return SqlTransformOperator(
        task_id=task_id or name,
        sql=path,
        target=target if target is not None or materialization == "script" else f"{layer}.{name}",
        materialization=materialization,
        partition_filter=partition_filter,
        parameters={
            "as_of": "{{ data_interval_end }}",
            **config.sql_parameters(),
            **({"recompute_from": RECOMPUTE_FROM} if incremental else {}),
            **(parameters or {}),
        },
        params=params or {},
    )


def quarantine_model(path: str, *, config: MetricsConfig, source_table: str) -> SqlTransformOperator:
    """Create the task that writes the rejected rows of `source_table` to staging.quarantine.

    Each source table owns its own partition of the quarantine table, so models of different
    sources can run in any order without removing each other's rows.
    """
    return sql_model(
        path,
        config=config,
        target="staging.quarantine",
        materialization="partition",
        partition_filter="source_table = %(quarantine_source_table)s",
        parameters={"quarantine_source_table": source_table},
    )
