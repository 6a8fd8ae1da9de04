"""Task factory for SQL models, so that DAG files declare models in one line each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from saas_metrics.config import MetricsConfig
from saas_metrics.incremental import DOMAINS, INCREMENTAL_SOURCES
from saas_metrics.operators.sql_transform import SqlTransformOperator

# The end of the run's data interval is the "now" of every model. Incremental models rewrite
# the months from the plan's `recompute_from` (see saas_metrics.incremental) up to the month
# still open at that instant in the reporting time zone; later months are left alone.
OPEN_MONTH = (
    "date_trunc('month', (%(as_of)s::timestamptz - interval '1 microsecond') "
    "at time zone %(reporting_time_zone)s)::date"
)
MONTH_WINDOW_FILTER = f"month_start >= %(recompute_from)s::date and month_start <= {OPEN_MONTH}"
# The same window for tables by UTC month, such as the product tables: from recompute_from to
# the UTC month of the end of the run's data interval.
OPEN_UTC_MONTH = "date_trunc('month', (%(as_of)s::timestamptz - interval '1 microsecond') at time zone 'UTC')::date"
UTC_MONTH_WINDOW_FILTER = f"month_start >= %(recompute_from)s::date and month_start <= {OPEN_UTC_MONTH}"
# The staged product events a run rewrites: from the day before the product domain's first
# month (UTC), because a local wall-clock time of that day can fall in the month in UTC.
EVENTS_PARTITION_FILTER = "occurred_at >= (%(recompute_from)s::date - 1)::timestamp at time zone 'UTC'"

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


EXTRACTED_UNTIL = "{{ ti.xcom_pull(task_ids='plan_recompute')['extracted_until'] }}"


def changed_since_template(*raw_tables: str) -> str:
    """Template of the plan's changed_since for incremental raw tables: the earliest of theirs.

    Each table must be one of saas_metrics.incremental.INCREMENTAL_SOURCES. The plan writes the
    instants in UTC, so the earliest is the smallest string, and -infinity is smaller than any.
    """
    unknown = set(raw_tables) - {source.table for source in INCREMENTAL_SOURCES}
    if not raw_tables or unknown:
        raise ValueError(
            f"{', '.join(sorted(unknown)) or 'no table given'}: expected raw tables listed in "
            "saas_metrics.incremental.INCREMENTAL_SOURCES"
        )
    plan = "ti.xcom_pull(task_ids='plan_recompute')['changed_since']"
    return "{{ [" + ", ".join(f"{plan}['{table}']" for table in raw_tables) + "] | min }}"


def recompute_from_template(domains: Sequence[str]) -> str:
    """Template of the first month to rewrite for a model that reads `domains`: the earliest of theirs."""
    unknown = set(domains) - set(DOMAINS)
    if isinstance(domains, str) or unknown:
        raise ValueError(f"incremental must be a list of domains from {DOMAINS}, got {domains!r}")
    plan = "ti.xcom_pull(task_ids='plan_recompute')['recompute_from_by_domain']"
    return "{{ [" + ", ".join(f"{plan}['{domain}']" for domain in domains) + "] | min }}"


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
    incremental: Sequence[str] = (),
    quarantine_source: str | None = None,
    merge_key: str | None = None,
    merged_from: Sequence[str] = (),
    merge_keys: str | None = None,
    indexes: Sequence[str] = (),
) -> SqlTransformOperator:
    """Create the task that runs sql/<path> and writes `target` (default: the path's layer.name).

    `incremental` names the input domains of an incremental model (see
    saas_metrics.incremental.DOMAINS). The model then gets the bound parameter `recompute_from`,
    the earliest first month of those domains in the result of the plan_recompute task, which
    must run upstream.

    `quarantine_source` names the raw table a staging model validates. Its rejected rows go to
    staging.quarantine, and the model gets the bound parameter `extracted_until` from the same
    plan, so that it reads only the raw rows the run's row accounting counts.

    `merge_key` makes the model a merge (see saas_metrics.operators.sql_transform): the column
    of `target` that identifies a record. The model restages the records with raw rows extracted
    after the bound parameter `changed_since`, the plan's instant for the raw tables
    `merged_from` (by default `quarantine_source`), which must be among
    saas_metrics.incremental.INCREMENTAL_SOURCES. `merge_keys` names a table of more records to
    replace.

    `indexes` names columns of `target` that later models look up; the operator indexes them.
    """
    if merge_key:
        merged_from = merged_from or ([quarantine_source] if quarantine_source else [])
        if not merged_from:
            raise ValueError(f"{path}: a merge model needs merged_from or quarantine_source, the raw tables it reads")
        materialization = "merge"
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
            **({"recompute_from": recompute_from_template(incremental)} if incremental else {}),
            **({"extracted_until": EXTRACTED_UNTIL} if quarantine_source else {}),
            **(parameters or {}),
        },
        params=params or {},
        quarantine_source=quarantine_source,
        unique_key=merge_key,
        changed_since=changed_since_template(*merged_from) if merge_key else None,
        merge_keys=merge_keys,
        indexes=indexes,
    )

