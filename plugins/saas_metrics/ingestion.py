"""Source configuration (include/config/sources.yml) and the DAG's Airbyte ingestion task group.

DAG files call `build_ingestion_group` while they are parsed, so this module only reads one small
YAML file: no network, no Airflow connections, no Airbyte SDK import. The operator module loads
the SDK only when a task runs.

Typical use in a DAG file::

    with DAG(...) as dag:
        ingest = build_ingestion_group(dag)
        if ingest is None:
            ingest = load_demo_data()  # demo mode: the DAG's own loader task
        ingest >> normalize_timezones
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from saas_metrics.operators.airbyte import ZERO_ROWS_POLICIES
from saas_metrics.paths import CONFIG_DIR

SOURCES_FILE = CONFIG_DIR / "sources.yml"
INGESTION_MODE_ENV = "SAAS_METRICS_INGESTION"
INGESTION_MODES = ("demo", "airbyte")
DEFAULT_INGESTION_MODE = "demo"
INGESTION_GROUP_ID = "ingest"

# The values of ConnectionSyncModeEnum in airbyte-api 1.0.1 (airbyte_api/models/
# connectionsyncmodeenum.py), copied so that parsing a DAG does not import the SDK.
SYNC_MODES = (
    "full_refresh_overwrite",
    "full_refresh_overwrite_deduped",
    "full_refresh_append",
    "full_refresh_update",
    "full_refresh_soft_delete",
    "incremental_append",
    "incremental_deduped_history",
    "incremental_update",
    "incremental_soft_delete",
)
FREQUENCY_PATTERN = re.compile(r"^(\d+)(m|h|d)$")
FREQUENCY_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
SOURCE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

TOP_LEVEL_KEYS = ("ingestion_mode", "airbyte", "sources")
AIRBYTE_KEYS = (
    "conn_id",
    "deferrable",
    "poll_interval_seconds",
    "timeout_seconds",
    "on_zero_rows",
    "health_conn_id",
)
SOURCE_REQUIRED_KEYS = ("connection_id", "sync_mode", "expected_frequency")
SOURCE_OPTIONAL_KEYS = ("timeout_seconds", "on_zero_rows")


class SourcesConfigError(ValueError):
    """The sources file is missing, unreadable or invalid. The message names the file and key."""


@dataclass(frozen=True)
class AirbyteSettings:
    """Settings that every sync task shares (the `airbyte:` block)."""

    conn_id: str = "airbyte_default"
    deferrable: bool = True
    poll_interval_seconds: float = 60.0
    timeout_seconds: float = 7200.0
    on_zero_rows: str = "warn"
    health_conn_id: str | None = "warehouse"


@dataclass(frozen=True)
class SourceConfig:
    """One source: its Airbyte connection and what the pipeline expects of it."""

    name: str
    connection_id: str
    sync_mode: str
    expected_frequency: str
    timeout_seconds: float
    on_zero_rows: str

    @property
    def expected_interval(self) -> timedelta:
        """`expected_frequency` as a timedelta."""
        match = FREQUENCY_PATTERN.match(self.expected_frequency)
        assert match is not None, "validated in load_sources"
        return timedelta(**{FREQUENCY_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class IngestionConfig:
    """The validated sources file, with the ingestion mode after the environment override."""

    mode: str
    airbyte: AirbyteSettings
    sources: tuple[SourceConfig, ...]

    @property
    def uses_airbyte(self) -> bool:
        return self.mode == "airbyte"


def load_sources(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> IngestionConfig:
    """Read and validate the sources file. Raises `SourcesConfigError` naming every problem found.

    :param path: The YAML file, by default include/config/sources.yml.
    :param environ: Where to read SAAS_METRICS_INGESTION, by default `os.environ`.
    """
    import yaml

    path = Path(path) if path is not None else SOURCES_FILE
    environ = os.environ if environ is None else environ
    try:
        # libyaml's loader parsed this file in about 1 ms and the pure-Python one in about 25 ms
        # (2-vCPU machine), which matters because every parse of the DAG file reads it.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except FileNotFoundError:
        raise SourcesConfigError(f"{path}: file not found. It lists the sources to ingest.") from None
    except yaml.YAMLError as error:
        raise SourcesConfigError(f"{path}: invalid YAML: {error}") from None

    problems: list[str] = []
    if not isinstance(document, dict):
        raise SourcesConfigError(f"{path}: expected a mapping with keys {', '.join(TOP_LEVEL_KEYS)}.")
    _check_keys(document, "top level", TOP_LEVEL_KEYS, (), problems)

    mode = _ingestion_mode(document.get("ingestion_mode", DEFAULT_INGESTION_MODE), environ, problems)
    airbyte = _airbyte_settings(document.get("airbyte") or {}, problems)
    sources = _sources(document.get("sources"), airbyte, problems)

    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise SourcesConfigError(f"{path} is invalid:\n{listed}")
    return IngestionConfig(mode=mode, airbyte=airbyte, sources=sources)


def build_ingestion_group(dag: Any = None, *, config: IngestionConfig | None = None) -> Any:
    """Return the TaskGroup `ingest` with one Airbyte sync task per source, or None in demo mode.

    Task ids are `ingest.sync_<source>`. Call it inside `with DAG(...)`, or pass the DAG.

    :param dag: The DAG to add the group to; None uses the DAG of the enclosing `with` block.
    :param config: A loaded configuration, by default `load_sources()`.
    """
    config = load_sources() if config is None else config
    if not config.uses_airbyte:
        return None

    from airflow.sdk import TaskGroup

    from saas_metrics.operators.airbyte import AirbyteSyncOperator

    settings = config.airbyte
    # An explicit dag=None would override the DAG of the enclosing `with` block.
    dag_argument = {"dag": dag} if dag is not None else {}
    group = TaskGroup(
        group_id=INGESTION_GROUP_ID,
        tooltip="Airbyte syncs of the sources in include/config/sources.yml",
        **dag_argument,
    )
    for source in config.sources:
        AirbyteSyncOperator(
            task_id=f"sync_{source.name}",
            task_group=group,
            **dag_argument,
            connection_id=source.connection_id,
            airbyte_conn_id=settings.conn_id,
            source_name=source.name,
            deferrable=settings.deferrable,
            poll_interval=settings.poll_interval_seconds,
            timeout=source.timeout_seconds,
            on_zero_rows=source.on_zero_rows,
            health_conn_id=settings.health_conn_id,
            doc_md=(
                f"Airbyte sync of **{source.name}** (connection `{source.connection_id}`, "
                f"{source.sync_mode}, expected every {source.expected_frequency})."
            ),
        )
    return group


# -- validation helpers ------------------------------------------------------------------------


def _check_keys(
    block: dict[str, Any],
    where: str,
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    problems: list[str],
) -> None:
    for key in block:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r}; allowed keys are {', '.join(allowed)}")
    for key in required:
        if block.get(key) in (None, ""):
            problems.append(f"{where}: {key} is missing")


def _ingestion_mode(configured: Any, environ: Mapping[str, str], problems: list[str]) -> str:
    override = environ.get(INGESTION_MODE_ENV, "").strip()
    if override:
        if override not in INGESTION_MODES:
            modes = ", ".join(INGESTION_MODES)
            problems.append(f"environment variable {INGESTION_MODE_ENV} is {override!r}; use one of {modes}")
        return override
    if configured not in INGESTION_MODES:
        problems.append(f"ingestion_mode is {configured!r}; use one of {', '.join(INGESTION_MODES)}")
    return str(configured)


def _airbyte_settings(block: Any, problems: list[str]) -> AirbyteSettings:
    if not isinstance(block, dict):
        problems.append("airbyte: expected a mapping of settings")
        return AirbyteSettings()
    _check_keys(block, "airbyte", AIRBYTE_KEYS, (), problems)
    defaults = AirbyteSettings()
    conn_id = block.get("conn_id", defaults.conn_id)
    if not isinstance(conn_id, str) or not conn_id:
        problems.append(f"airbyte.conn_id is {conn_id!r}; expected an Airflow connection id")
    deferrable = block.get("deferrable", defaults.deferrable)
    if not isinstance(deferrable, bool):
        problems.append(f"airbyte.deferrable is {deferrable!r}; expected true or false")
    health_conn_id = block.get("health_conn_id", defaults.health_conn_id)
    if health_conn_id is not None and (not isinstance(health_conn_id, str) or not health_conn_id):
        problems.append(f"airbyte.health_conn_id is {health_conn_id!r}; expected a connection id or null")
    return AirbyteSettings(
        conn_id=str(conn_id),
        deferrable=bool(deferrable),
        poll_interval_seconds=_positive_seconds(
            block, "airbyte", "poll_interval_seconds", defaults, problems
        ),
        timeout_seconds=_positive_seconds(block, "airbyte", "timeout_seconds", defaults, problems),
        on_zero_rows=_zero_rows_policy(block, "airbyte", defaults.on_zero_rows, problems),
        health_conn_id=health_conn_id,
    )


def _sources(block: Any, airbyte: AirbyteSettings, problems: list[str]) -> tuple[SourceConfig, ...]:
    if not isinstance(block, dict) or not block:
        problems.append("sources: expected a mapping of source name to settings, with at least one source")
        return ()
    sources = []
    names_by_connection: dict[str, str] = {}
    for name, settings in block.items():
        where = f"sources.{name}"
        if not isinstance(name, str) or not SOURCE_NAME_PATTERN.match(name):
            problems.append(f"{where}: source names must be lowercase letters, digits and underscores")
            continue
        if not isinstance(settings, dict):
            problems.append(f"{where}: expected a mapping with {', '.join(SOURCE_REQUIRED_KEYS)}")
            continue
        _check_keys(
            settings, where, SOURCE_REQUIRED_KEYS + SOURCE_OPTIONAL_KEYS, SOURCE_REQUIRED_KEYS, problems
        )
        connection_id = str(settings.get("connection_id") or "")
        if connection_id:
            try:
                uuid.UUID(connection_id)
            except ValueError:
                problems.append(
                    f"{where}.connection_id is {connection_id!r}, which is not a UUID; copy the id after "
                    "/connections/ in the connection's URL in the Airbyte UI"
                )
            if connection_id in names_by_connection:
                other = names_by_connection[connection_id]
                problems.append(f"{where}.connection_id is also the connection of source {other}")
            names_by_connection.setdefault(connection_id, name)
        sync_mode = settings.get("sync_mode")
        if sync_mode not in (None, "") and sync_mode not in SYNC_MODES:
            problems.append(f"{where}.sync_mode is {sync_mode!r}; use one of {', '.join(SYNC_MODES)}")
        frequency = str(settings.get("expected_frequency") or "")
        if frequency and not FREQUENCY_PATTERN.match(frequency):
            problems.append(
                f"{where}.expected_frequency is {frequency!r}; write a number and a unit, e.g. 15m, 1h or 1d"
            )
        sources.append(
            SourceConfig(
                name=name,
                connection_id=connection_id,
                sync_mode=str(sync_mode),
                expected_frequency=frequency,
                timeout_seconds=_positive_seconds(settings, where, "timeout_seconds", airbyte, problems),
                on_zero_rows=_zero_rows_policy(settings, where, airbyte.on_zero_rows, problems),
            )
        )
    return tuple(sources)


def _positive_seconds(
    block: dict[str, Any], where: str, key: str, defaults: Any, problems: list[str]
) -> float:
    value = block.get(key, getattr(defaults, key))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        problems.append(f"{where}.{key} is {value!r}; expected a number of seconds greater than zero")
        return float(getattr(defaults, key))
    return float(value)


def _zero_rows_policy(block: dict[str, Any], where: str, default: str, problems: list[str]) -> str:
    value = block.get("on_zero_rows", default)
    if value not in ZERO_ROWS_POLICIES:
        problems.append(f"{where}.on_zero_rows is {value!r}; use one of {', '.join(ZERO_ROWS_POLICIES)}")
        return default
    return str(value)
