"""Task factory for SQL models, so that DAG files declare models in one line each."""

from __future__ import annotations

from typing import Any

from saas_metrics.config import MetricsConfig
from saas_metrics.operators.sql_transform import SqlTransformOperator

# Bound by every model: the end of the run's data interval is the "now" of the run, and the
# month still open at that instant (in the reporting time zone) is the last month written.
OPEN_MONTH_FILTER = (
    "month_start <= date_trunc('month', "
    "(%(as_of)s::timestamptz - interval '1 microsecond') at time zone %(reporting_time_zone)s)::date"
)


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
) -> SqlTransformOperator:
    """Create the task that runs sql/<path> and writes `target` (default: the path's layer.name)."""
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
