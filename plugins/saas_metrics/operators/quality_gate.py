"""The quality gate: verify Soda data contracts, record every result, and block on critical ones.

The gate builds the Soda data source from an Airflow connection, runs each contract under
soda_checks/ with the variables of the run's data interval, and stores one row per check in
analytics.data_quality_results. Then:

- failed fail-level checks, not-evaluated fail-level checks and errors block. Errors are a
  contract that is invalid or cannot be read, a missing table or column, or a failed query or
  connection. The task fails with a message that lists each blocking result with its value and
  threshold, so no task downstream of the gate runs;
- warnings (a warn-level check that warned or was not evaluated) go to
  saas_metrics.notifiers.quality.notify_quality_warnings and the run continues.

With ``fail_on_blocking=False`` the gate instead returns the blocking results for a branch to act
on; errors still fail the task, because they say nothing about the data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

DEFAULT_CONTRACTS = ("*/*.yml",)


class QualityGateBlocked(RuntimeError):
    """Critical data quality results block publication. The message lists them."""


class QualityGateOperator(BaseOperator):
    """
    Verify Soda data contracts against the warehouse and stop the run on critical results.

    :param contracts: glob patterns of contract files in ``contracts_folder``, such as
        ``analytics/mrr_monthly.yml`` (default: every contract). A pattern that matches nothing
        fails the task.
    :param contracts_folder: folder of <schema>/<table>.yml contracts (default: soda_checks/).
    :param exclude_checks: names of checks to leave out; they are recorded as excluded.
    :param variables: contract variables that override the gate's own (see
        saas_metrics.quality.contracts.GATE_VARIABLES). Templated.
    :param extracted_since_by_table: per raw table, the extraction instant after which the run
        read it (the daily plan's ``changed_since``), as a dict or its JSON text. The contract of
        a table listed gets it as the variable ``extracted_since``. Templated.
    :param fail_on_blocking: when True (default), blocking results fail the task. When False,
        the task succeeds with blocking check results in its return value; errors still fail it.
    :param conn_id: Airflow connection of the warehouse.
    """

    template_fields: Sequence[str] = (
        "contracts",
        "contracts_folder",
        "exclude_checks",
        "variables",
        "extracted_since_by_table",
    )
    template_fields_renderers = {"variables": "json", "extracted_since_by_table": "json"}
    ui_color = "#fbe3c7"

    def __init__(
        self,
        *,
        contracts: Sequence[str] = DEFAULT_CONTRACTS,
        contracts_folder: str | None = None,
        exclude_checks: Sequence[str] = (),
        variables: dict[str, str] | None = None,
        extracted_since_by_table: dict[str, str] | str | None = None,
        fail_on_blocking: bool = True,
        conn_id: str = "warehouse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.contracts = list(contracts)
        self.contracts_folder = contracts_folder
        self.exclude_checks = list(exclude_checks)
        self.variables = dict(variables or {})
        self.extracted_since_by_table = extracted_since_by_table
        self.fail_on_blocking = fail_on_blocking
        self.conn_id = conn_id

    @cached_property
    def hook(self):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(postgres_conn_id=self.conn_id)

    def execute(self, context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from saas_metrics.notifiers.quality import notify_quality_warnings
        from saas_metrics.paths import SODA_DIR
        from saas_metrics.quality.contracts import find_contracts
        from saas_metrics.quality.runner import verify_contracts

        started = time.monotonic()
        contracts = find_contracts(self.contracts, Path(self.contracts_folder) if self.contracts_folder else SODA_DIR)
        variables = {**self._run_variables(context), **self.variables}
        self.log.info(
            "Verifying %d contracts for the interval ending %s", len(contracts), variables["data_interval_end"]
        )
        records = verify_contracts(
            contracts,
            conn_id=self.conn_id,
            variables=variables,
            exclude_checks=self.exclude_checks,
            variables_by_table={
                table: {"extracted_since": since} for table, since in self._extracted_since_by_table().items()
            },
        )
        for record in records:
            self.log.info("%s -> %s", record.describe(), record.action)

        storage_error = self._store(context, records, [contract.table_name for contract in contracts])
        warnings = [record for record in records if record.action == "warn"]
        if warnings:
            notify_quality_warnings(context, warnings)
        blocking = [record for record in records if record.action == "block"]
        summary = _summary(records)
        self.log.info("Quality gate finished in %.1f s: %s", time.monotonic() - started, summary["counts_by_action"])

        if blocking:
            message = _blocking_message(blocking, len(contracts), storage_error)
            if any(record.outcome == "error" for record in blocking):
                # An error may be transient (a connection, a lock), so the task may be retried.
                raise QualityGateBlocked(message)
            if self.fail_on_blocking:
                # Retrying does not change failed data: fix the data and clear the task.
                raise AirflowFailException(message)
            self.log.warning(message)
        if storage_error:
            raise storage_error
        return summary

    def _extracted_since_by_table(self) -> dict[str, str]:
        """Return extracted_since_by_table as a dict, or raise ValueError when it is not one of strings."""
        value = self.extracted_since_by_table
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else None
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"Task {self.task_id}: extracted_since_by_table is not valid JSON ({error}): {value[:200]!r}. "
                    "Pass a dict, or render the plan's changed_since with the tojson filter."
                ) from None
        value = value or {}
        if not isinstance(value, dict) or not all(
            isinstance(table, str) and isinstance(since, str) for table, since in value.items()
        ):
            raise ValueError(
                f"Task {self.task_id}: extracted_since_by_table must map raw tables to instants as text, "
                f"such as {{'raw_product.events': '2026-03-14T04:00:00+00:00'}}; got {value!r}"
            )
        return value

    def _run_variables(self, context) -> dict[str, str]:
        from saas_metrics.config import load_metrics_config
        from saas_metrics.quality.contracts import gate_variables

        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None:
            raise ValueError(
                f"Task {self.task_id} needs a run with a data interval; this run has "
                f"data_interval_start={start!r}, data_interval_end={end!r}"
            )
        return gate_variables(
            database=self.hook.get_connection(self.conn_id).schema,
            data_interval_start=start,
            data_interval_end=end,
            reporting_time_zone=load_metrics_config().reporting_time_zone,
        )

    def _store(self, context, records, tables) -> Exception | None:
        """Store the records, and return any error instead of raising it so that blocking results are still reported."""
        from saas_metrics.quality.storage import RESULTS_TABLE, store_results

        try:
            with self.hook.get_conn() as conn:
                written = store_results(
                    conn,
                    dag_id=context["dag"].dag_id,
                    run_id=context["run_id"],
                    task_id=self.task_id,
                    data_interval_end=context.get("data_interval_end"),
                    records=records,
                    tables=tables,
                )
        # Connection and SQL errors of several libraries can end up here.
        except Exception as error:  # noqa: BLE001
            self.log.error("Could not store the quality results in %s: %s", RESULTS_TABLE, error)
            return error
        self.log.info("Stored %d quality results in %s", written, RESULTS_TABLE)
        return None


def _summary(records) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.action] = counts.get(record.action, 0) + 1
    return {
        "counts_by_action": counts,
        "blocking": [record.as_dict() for record in records if record.action == "block"],
        "warnings": [record.as_dict() for record in records if record.action == "warn"],
    }


def _blocking_message(blocking, contract_count: int, storage_error: Exception | None) -> str:
    results = "result" if len(blocking) == 1 else "results"
    contracts = "contract" if contract_count == 1 else "contracts"
    lines = [f"Quality gate blocked publication: {len(blocking)} blocking {results} in {contract_count} {contracts}:"]
    lines += [f"- {record.describe()}" for record in blocking]
    if storage_error:
        lines.append(f"The results could not be stored: {storage_error}")
    else:
        lines.append("Every result of this run is in analytics.data_quality_results.")
    return "\n".join(lines)
