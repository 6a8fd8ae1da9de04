"""Metric conventions from include/config/metrics.yml, validated before any task uses them.

The DAG files read this at parse time, so it only opens one small YAML file and imports
nothing heavy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from saas_metrics.paths import CONFIG_DIR

DISCOUNT_POLICIES = ("all_active", "forever_only")
CHURN_TIMINGS = ("ended", "scheduled", "paid_through")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration file is invalid; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class TimezoneCorrection:
    table: str
    columns: tuple[str, ...]
    local_time_zone: str
    marker_column: str
    marker_values: tuple[str, ...]

    def as_template_params(self) -> dict[str, object]:
        return {"table": self.table, "columns": list(self.columns), "marker_column": self.marker_column}


@dataclass(frozen=True)
class Segment:
    name: str
    min_mrr: float


@dataclass(frozen=True)
class MetricsConfig:
    reporting_time_zone: str
    reporting_currency: str
    discount_policy: str
    churn_timing: str
    timezone_corrections: tuple[TimezoneCorrection, ...] = field(default_factory=tuple)
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    def correction_for(self, table: str) -> TimezoneCorrection | None:
        return next((rule for rule in self.timezone_corrections if rule.table == table), None)

    def sql_parameters(self) -> dict[str, str]:
        """Values every metric model binds, by parameter name."""
        return {
            "reporting_time_zone": self.reporting_time_zone,
            "reporting_currency": self.reporting_currency,
            "discount_policy": self.discount_policy,
            "segment_names": [segment.name for segment in self.segments],
            "segment_min_mrr": [segment.min_mrr for segment in self.segments],
        }


def _require(mapping: dict, key: str, source: Path):
    if key not in mapping:
        raise ConfigError(f"{source}: missing key '{key}'")
    return mapping[key]


def _check_time_zone(name: object, where: str) -> str:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"{where}: unknown time zone {name!r}; use an IANA name such as UTC") from error
    return str(name)


def parse_metrics_config(data: object, source: Path) -> MetricsConfig:
    """Validate the parsed YAML of a metrics configuration and return it."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    known = {
        "reporting_time_zone",
        "reporting_currency",
        "discount_policy",
        "churn_timing",
        "timezone_corrections",
        "segments",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown keys {unknown}; known keys are {sorted(known)}")

    time_zone = _check_time_zone(_require(data, "reporting_time_zone", source), f"{source}: reporting_time_zone")
    currency = str(_require(data, "reporting_currency", source))
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise ConfigError(f"{source}: reporting_currency {currency!r} is not a three-letter ISO 4217 code")
    policy = _require(data, "discount_policy", source)
    if policy not in DISCOUNT_POLICIES:
        raise ConfigError(f"{source}: discount_policy {policy!r} is invalid; use one of {DISCOUNT_POLICIES}")
    churn_timing = _require(data, "churn_timing", source)
    if churn_timing not in CHURN_TIMINGS:
        raise ConfigError(f"{source}: churn_timing {churn_timing!r} is invalid; use one of {CHURN_TIMINGS}")

    corrections = []
    for index, rule in enumerate(data.get("timezone_corrections") or []):
        where = f"{source}: timezone_corrections[{index}]"
        if not isinstance(rule, dict):
            raise ConfigError(f"{where}: expected a mapping")
        table = str(_require(rule, "table", source))
        if not _TABLE.match(table):
            raise ConfigError(f"{where}: table {table!r} must be a lowercase schema.table name")
        columns = tuple(_require(rule, "columns", source))
        marker_column = str(_require(rule, "marker_column", source))
        for column in (*columns, marker_column):
            if not _IDENTIFIER.match(str(column)):
                raise ConfigError(f"{where}: column {column!r} is not a lowercase SQL identifier")
        marker_values = tuple(str(value) for value in _require(rule, "marker_values", source))
        if not marker_values:
            raise ConfigError(f"{where}: marker_values is empty, so no row would be converted")
        corrections.append(
            TimezoneCorrection(
                table=table,
                columns=columns,
                local_time_zone=_check_time_zone(_require(rule, "local_time_zone", source), where),
                marker_column=marker_column,
                marker_values=marker_values,
            )
        )
    return MetricsConfig(
        segments=_parse_segments(_require(data, "segments", source), source),
        reporting_time_zone=time_zone,
        reporting_currency=currency.upper(),
        discount_policy=policy,
        churn_timing=churn_timing,
        timezone_corrections=tuple(corrections),
    )


def _parse_segments(entries: object, source: Path) -> tuple[Segment, ...]:
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: segments must be a non-empty list of {{name, min_mrr}}")
    segments = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"name", "min_mrr"}:
            raise ConfigError(f"{source}: segments[{index}] must have exactly the keys name and min_mrr")
        min_mrr = entry["min_mrr"]
        if isinstance(min_mrr, bool) or not isinstance(min_mrr, int | float) or min_mrr < 0:
            raise ConfigError(f"{source}: segments[{index}].min_mrr {min_mrr!r} must be a number >= 0")
        segments.append(Segment(name=str(entry["name"]), min_mrr=float(min_mrr)))
    thresholds = [segment.min_mrr for segment in segments]
    if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(thresholds):
        raise ConfigError(f"{source}: segments must be listed by strictly decreasing min_mrr, got {thresholds}")
    if thresholds[-1] != 0:
        raise ConfigError(f"{source}: the last segment must have min_mrr 0 so that every customer has a segment")
    return tuple(segments)


@lru_cache(maxsize=4)
def load_metrics_config(path: Path = CONFIG_DIR / "metrics.yml") -> MetricsConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"Metrics configuration not found: {path}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from error
    return parse_metrics_config(data, path)
