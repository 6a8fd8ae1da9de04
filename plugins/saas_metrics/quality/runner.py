"""Run Soda contracts against the warehouse of an Airflow connection and return check records.

The Soda data source is built in memory from the Airflow connection's fields, so no file
contains a password. Each contract is linted first (saas_metrics.quality.lint): a contract with a problem
is not run, because Soda would run it with a default threshold or level in place of a mistyped
one. Everything that goes wrong for a contract becomes a blocking record that names it, so one
broken contract never hides the results of the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from saas_metrics.quality.contracts import DATA_SOURCE_NAME, ContractFile
from saas_metrics.quality.lint import lint_contract
from saas_metrics.quality.records import CheckRecord, error_record, records_from_result

log = logging.getLogger(__name__)

# Connection extras passed on to psycopg. Other extras of Airflow's Postgres connection (such as
# `cursor` or `iam`) mean nothing to Soda.
PASSED_EXTRAS = ("sslmode", "sslcert", "sslkey", "sslrootcert", "connect_timeout", "options", "application_name")
APPLICATION_NAME = "saas-metrics-quality-gate"


class DataSourceConfigError(ValueError):
    """The Airflow connection cannot be turned into a Soda data source. The message contains no secret."""


def data_source_config(connection, conn_id: str) -> dict[str, object]:
    """Return Soda's PostgreSQL data source settings for an Airflow connection."""
    if not connection.schema:
        raise DataSourceConfigError(
            f"Airflow connection {conn_id!r} has no database (its schema field); set it to the warehouse database"
        )
    if not connection.login:
        raise DataSourceConfigError(f"Airflow connection {conn_id!r} has no login; set the warehouse user")
    settings: dict[str, object] = {
        "host": connection.host or "localhost",
        "port": connection.port or 5432,
        "database": connection.schema,
        "user": connection.login,
        # Soda's PostgreSQL settings require a password key, which trust and peer authentication ignore.
        "password": connection.password or "",
    }
    extra = connection.extra_dejson
    settings.update({key: extra[key] for key in PASSED_EXTRAS if key in extra})
    settings.setdefault("application_name", APPLICATION_NAME)
    return {"name": DATA_SOURCE_NAME, "type": "postgres", "connection": settings}


def build_data_source(conn_id: str):
    """Return an unopened Soda data source for the Airflow connection `conn_id`."""
    from airflow.sdk import BaseHook
    from pydantic import ValidationError
    from soda_postgres.common.data_sources.postgres_data_source import PostgresDataSourceImpl
    from soda_postgres.common.data_sources.postgres_data_source_connection import PostgresDataSource

    config = data_source_config(BaseHook.get_connection(conn_id), conn_id)
    try:
        model = PostgresDataSource.model_validate(config)
    except ValidationError as error:
        # Pydantic's own message repeats the input, password included.
        details = "; ".join(
            f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors(include_input=False)
        )
        raise DataSourceConfigError(
            f"Airflow connection {conn_id!r} is not a valid Soda data source: {details}"
        ) from None
    return PostgresDataSourceImpl(data_source_model=model)


def verify_contracts(
    contracts: Sequence[ContractFile],
    *,
    conn_id: str,
    variables: dict[str, str],
    exclude_checks: Sequence[str] = (),
    variables_by_table: dict[str, dict[str, str]] | None = None,
) -> list[CheckRecord]:
    """Verify each contract over one shared connection and return the records of all of them.

    `variables_by_table` overrides `variables` for the contracts of the tables it names.
    """
    from soda_core.contracts.impl.check_selector import CheckSelector

    selectors = [CheckSelector.parse(f"name!={name}") for name in exclude_checks]
    data_source = build_data_source(conn_id)
    try:
        data_source.open_connection()
    # Soda wraps every driver error in its own exception, and any of them means no contract can run.
    except Exception as error:  # noqa: BLE001
        log.error("Could not connect to the warehouse of connection %s: %s", conn_id, error)
        return [error_record(contract, f"could not connect to the warehouse: {error}") for contract in contracts]
    try:
        records = []
        for contract in contracts:
            contract_variables = {**variables, **(variables_by_table or {}).get(contract.table_name, {})}
            records += verify_contract(data_source, contract, variables=contract_variables, selectors=selectors)
        return records
    finally:
        data_source.close_connection()


def verify_contract(
    data_source, contract: ContractFile, *, variables: dict[str, str], selectors=()
) -> list[CheckRecord]:
    """Lint and verify one contract, and return its records (error records when it cannot run)."""
    from soda_core.contracts import verify_contract_locally

    problems = lint_contract(contract.path, contract.path.parents[1])
    if problems:
        return [error_record(contract, f"invalid contract, not run: {problem}") for problem in problems]
    try:
        result = verify_contract_locally(
            data_sources=[data_source],
            contract_file_path=str(contract.path),
            variables=variables,
            check_selectors=list(selectors) or None,
        )
    # Soda raises assorted exception types for contracts it cannot read or run.
    except Exception as error:  # noqa: BLE001
        log.error("Soda could not verify %s: %s", contract.relative_path, error)
        return [error_record(contract, f"Soda could not verify the contract: {error}")]
    return records_from_result(result, contract)
