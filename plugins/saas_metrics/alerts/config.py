"""Alert rules and notification channels from include/config/alerts.yml, validated before use.

The same validation runs in CI (a test loads the shipped file) and at run time (the alert task
and the notification callbacks load the file when they run). It rejects unknown keys, unknown
metrics and channels, malformed conditions, and message templates that name values the
metric does not return. docs/alerts.md describes the file.
"""

from __future__ import annotations

import operator
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

from saas_metrics.alerts.metrics import METRICS, Metric
from saas_metrics.config import ConfigError
from saas_metrics.paths import CONFIG_DIR

DEFAULT_ALERTS_PATH = CONFIG_DIR / "alerts.yml"
OPERATORS: Mapping[str, Callable[[object, object], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
SEVERITIES = ("critical", "high", "warning", "info")
CHANNEL_TYPES = ("slack_webhook", "email")
NOTIFICATION_KINDS = ("pipeline_failure", "board_report_held")
# Names every message template may use besides the metric's values.
RULE_FIELDS = ("rule", "severity", "period", "previous_period", "threshold")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# A sample of each kind of metric value, to check that a message template can be filled.
_SAMPLE_VALUES = {"number": Decimal("1234.5"), "integer": 12, "text": "USD", "boolean": True}
_TOP_LEVEL_KEYS = {"channels", "notifications", "rules"}
_CHANNEL_KEYS = {"slack_webhook": {"type", "conn_id"}, "email": {"type", "conn_id", "to", "from_email"}}
_RULE_KEYS = {"name", "metric", "condition", "severity", "channels", "message", "action"}
_CONDITION_KEYS = {"value", "operator", "threshold"}


@dataclass(frozen=True)
class Channel:
    """A message destination: a Slack incoming webhook or an e-mail list, behind an Airflow connection."""

    name: str
    type: str
    conn_id: str
    to: tuple[str, ...] = ()
    from_email: str | None = None


@dataclass(frozen=True)
class Condition:
    """`value operator threshold`, where value names one of the metric's values."""

    value: str
    operator: str
    threshold: Decimal

    def holds(self, observed: Decimal | int) -> bool:
        return OPERATORS[self.operator](Decimal(observed), self.threshold)

    def __str__(self) -> str:
        return f"{self.value} {self.operator} {self.threshold}"


@dataclass(frozen=True)
class AlertRule:
    name: str
    metric: Metric
    condition: Condition
    severity: str
    channels: tuple[Channel, ...]
    message: str
    action: str


@dataclass(frozen=True)
class AlertsConfig:
    channels: Mapping[str, Channel]
    rules: tuple[AlertRule, ...]
    notifications: Mapping[str, tuple[Channel, ...]]

    def notification_channels(self, kind: str) -> tuple[Channel, ...]:
        """Return the channels of pipeline_failure or board_report_held notifications, in fallback order."""
        return self.notifications[kind]


class MessageFormatter(string.Formatter):
    """str.format that shows a missing value (SQL null) as "n/a" instead of failing."""

    def format_field(self, value, format_spec):
        if value is None:
            return "n/a"
        return super().format_field(value, format_spec)


def _mapping(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _check_keys(data: dict, allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; allowed keys are {sorted(allowed)}")
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{where}: missing keys {missing}")


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(f"{where}: {value!r} is not a valid name; use lowercase letters, digits and _")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected non-empty text, got {value!r}")
    return value.strip()


def _parse_channel(name: str, data: object, where: str) -> Channel:
    data = _mapping(data, where)
    channel_type = data.get("type")
    if channel_type not in CHANNEL_TYPES:
        raise ConfigError(f"{where}: unknown channel type {channel_type!r}; use one of {list(CHANNEL_TYPES)}")
    required = {"type", "conn_id"} | ({"to"} if channel_type == "email" else set())
    _check_keys(data, _CHANNEL_KEYS[channel_type], required, where)
    conn_id = _text(data["conn_id"], f"{where}: conn_id")
    if channel_type == "slack_webhook":
        return Channel(name=name, type=channel_type, conn_id=conn_id)

    to = data["to"]
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to:
        raise ConfigError(f"{where}: 'to' must be a non-empty list of e-mail addresses")
    for address in [*to, *([data["from_email"]] if "from_email" in data else [])]:
        if not isinstance(address, str) or not _EMAIL.match(address):
            raise ConfigError(f"{where}: {address!r} is not an e-mail address")
    return Channel(
        name=name, type=channel_type, conn_id=conn_id, to=tuple(to), from_email=data.get("from_email")
    )


def _channel_list(value: object, channels: Mapping[str, Channel], where: str) -> tuple[Channel, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of channel names")
    unknown = [name for name in value if name not in channels]
    if unknown:
        raise ConfigError(f"{where}: unknown channels {unknown}; defined channels are {sorted(channels)}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: a channel is listed twice in {value}")
    return tuple(channels[name] for name in value)


def _parse_condition(data: object, metric: Metric, where: str) -> Condition:
    data = _mapping(data, where)
    _check_keys(data, _CONDITION_KEYS, _CONDITION_KEYS, where)
    value = data["value"]
    if value not in metric.numeric_values():
        raise ConfigError(
            f"{where}: value {value!r} is not a numeric value of metric {metric.name}; "
            f"use one of {list(metric.numeric_values())}"
        )
    comparison = data["operator"]
    if comparison not in OPERATORS:
        raise ConfigError(f"{where}: invalid operator {comparison!r}; use one of {list(OPERATORS)}")
    threshold = data["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ConfigError(
            f"{where}: threshold must be a number, got {type(threshold).__name__} {threshold!r}"
        )
    # str() first, so that 0.05 becomes Decimal("0.05") and not the binary float's expansion.
    return Condition(value=value, operator=comparison, threshold=Decimal(str(threshold)))


def template_fields(metric: Metric) -> tuple[str, ...]:
    """Return the names a rule's message template may use for `metric`."""
    return (*metric.values, *RULE_FIELDS)


def _check_template(template: str, metric: Metric, where: str) -> None:
    allowed = template_fields(metric)
    try:
        fields = [field for _, field, _, _ in MessageFormatter().parse(template) if field is not None]
    except ValueError as error:
        raise ConfigError(f"{where}: invalid message template: {error}") from error
    for field in fields:
        if field not in allowed:
            raise ConfigError(
                f"{where}: message uses {{{field}}}, which metric {metric.name} does not provide; "
                f"use one of {list(allowed)}"
            )
    samples = {name: _SAMPLE_VALUES[kind] for name, kind in metric.values.items()}
    samples.update(rule="rule", severity="critical", period="2026-01", previous_period="2025-12")
    samples["threshold"] = Decimal("0.05")
    try:
        MessageFormatter().format(template, **samples)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise ConfigError(f"{where}: message template cannot be filled: {error}") from error


def _parse_rule(data: object, channels: Mapping[str, Channel], where: str) -> AlertRule:
    data = _mapping(data, where)
    _check_keys(data, _RULE_KEYS, _RULE_KEYS, where)
    name = _name(data["name"], f"{where}: name")
    where = f"{where} ({name})"
    metric_name = data["metric"]
    if metric_name not in METRICS:
        raise ConfigError(f"{where}: unknown metric {metric_name!r}; known metrics are {sorted(METRICS)}")
    metric = METRICS[metric_name]
    severity = data["severity"]
    if severity not in SEVERITIES:
        raise ConfigError(f"{where}: invalid severity {severity!r}; use one of {list(SEVERITIES)}")
    message = _text(data["message"], f"{where}: message")
    _check_template(message, metric, where)
    return AlertRule(
        name=name,
        metric=metric,
        condition=_parse_condition(data["condition"], metric, f"{where}: condition"),
        severity=severity,
        channels=_channel_list(data["channels"], channels, f"{where}: channels"),
        message=message,
        action=_text(data["action"], f"{where}: action"),
    )


def parse_alerts_config(data: object, source: Path) -> AlertsConfig:
    """Validate the parsed YAML of an alerts configuration and return it."""
    data = _mapping(data, str(source))
    _check_keys(data, _TOP_LEVEL_KEYS, _TOP_LEVEL_KEYS, str(source))

    channels = {}
    for name, channel in _mapping(data["channels"], f"{source}: channels").items():
        where = f"{source}: channels.{name}"
        channels[_name(name, where)] = _parse_channel(name, channel, where)

    notifications_data = _mapping(data["notifications"], f"{source}: notifications")
    _check_keys(
        notifications_data, set(NOTIFICATION_KINDS), set(NOTIFICATION_KINDS), f"{source}: notifications"
    )
    notifications = {}
    for kind, settings in notifications_data.items():
        where = f"{source}: notifications.{kind}"
        settings = _mapping(settings, where)
        _check_keys(settings, {"channels"}, {"channels"}, where)
        notifications[kind] = _channel_list(settings["channels"], channels, f"{where}: channels")

    if not isinstance(data["rules"], list):
        raise ConfigError(f"{source}: rules must be a list")
    rules = [
        _parse_rule(rule, channels, f"{source}: rules[{index}]") for index, rule in enumerate(data["rules"])
    ]
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{source}: rule names must be unique; repeated: {duplicates}")
    return AlertsConfig(channels=channels, rules=tuple(rules), notifications=notifications)


def load_alerts_config(path: str | Path | None = None) -> AlertsConfig:
    """Read and validate the alerts file (include/config/alerts.yml unless `path` is given)."""
    path = Path(path) if path else DEFAULT_ALERTS_PATH
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"Alerts configuration not found: {path}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from error
    return parse_alerts_config(data, path)
