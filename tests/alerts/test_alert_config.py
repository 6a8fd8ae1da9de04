"""Validation of include/config/alerts.yml: the shipped file loads, and malformed files are rejected."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from saas_metrics.alerts.config import DEFAULT_ALERTS_PATH, load_alerts_config, parse_alerts_config
from saas_metrics.config import ConfigError

SOURCE = Path("alerts.yml")
SHIPPED = yaml.safe_load(DEFAULT_ALERTS_PATH.read_text())


def _shipped() -> dict:
    return copy.deepcopy(SHIPPED)


def _rule(data: dict, name: str) -> dict:
    return next(rule for rule in data["rules"] if rule["name"] == name)


def test_shipped_config_has_four_rules():
    names = [rule.name for rule in load_alerts_config().rules]
    assert names == [
        "mrr_drop_alert",
        "churn_spike_alert",
        "infra_cost_per_user_alert",
        "stripe_reconciliation_alert",
    ]


def test_shipped_mrr_rule_condition():
    rule = load_alerts_config().rules[0]
    assert str(rule.condition) == "month_over_month_change < -0.05"


def test_threshold_keeps_decimal_digits():
    rule = load_alerts_config().rules[2]
    assert rule.condition.threshold == Decimal("0.1")


def test_shipped_notification_channels():
    config = load_alerts_config()
    assert [channel.name for channel in config.notification_channels("pipeline_failure")] == [
        "slack_data_oncall",
        "email_data_oncall",
    ]


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_alerts_config(tmp_path / "missing.yml")


def _change_rule(path: str, value):
    """Return a change function that sets a key (dotted path) of mrr_drop_alert."""

    def change(data):
        target = _rule(data, "mrr_drop_alert")
        *parents, key = path.split(".")
        for parent in parents:
            target = target[parent]
        target[key] = value

    return change


def _delete_channel_to(data):
    del data["channels"]["email_finance"]["to"]


def _add_top_level_key(data):
    data["alerts"] = []


def _unknown_channel_type(data):
    data["channels"]["slack_exec_team"]["type"] = "pager"


def _unknown_channel_key(data):
    data["channels"]["slack_exec_team"]["url"] = "https://hooks.slack.com/x"


def _duplicate_rule(data):
    data["rules"].append(copy.deepcopy(data["rules"][0]))


def _missing_notification_kind(data):
    del data["notifications"]["board_report_held"]


def _unknown_notification_channel(data):
    data["notifications"]["pipeline_failure"]["channels"] = ["slack_nobody"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_change_rule("metric", "weekly_churn_rate"), "unknown metric 'weekly_churn_rate'"),
        (_change_rule("condition.operator", "=>"), "invalid operator '=>'"),
        (_change_rule("condition.operator", "<>"), "invalid operator '<>'"),
        (_change_rule("condition.threshold", "-0.05"), "threshold must be a number, got str"),
        (_change_rule("condition.threshold", True), "threshold must be a number, got bool"),
        (_change_rule("condition.threshold", None), "threshold must be a number, got NoneType"),
        (_change_rule("condition.window", "7d"), "unknown keys \\['window'\\]"),
        (_change_rule("condition.value", "current_mrr_usd"), "not a numeric value of metric"),
        (_change_rule("condition.value", "currency"), "not a numeric value of metric"),
        (_change_rule("condition", "month_over_month_change < -0.05"), "expected a mapping, got str"),
        (_change_rule("notify", ["slack://exec-team"]), "unknown keys \\['notify'\\]"),
        (_change_rule("channels", ["slack_exec"]), "unknown channels \\['slack_exec'\\]"),
        (_change_rule("channels", []), "non-empty list of channel names"),
        (_change_rule("severity", "urgent"), "invalid severity 'urgent'"),
        (_change_rule("name", "MRR drop"), "not a valid name"),
        (_change_rule("message", "MRR is {current_mrr_usd}"), "does not provide"),
        (_change_rule("message", "MRR is {current_mrr.real}"), "does not provide"),
        (_change_rule("message", "Currency {currency:,.2f}"), "cannot be filled"),
        (_change_rule("message", "Unclosed {current_mrr"), "invalid message template"),
        (_change_rule("action", ""), "expected non-empty text"),
        (_delete_channel_to, "missing keys \\['to'\\]"),
        (_add_top_level_key, "unknown keys \\['alerts'\\]"),
        (_unknown_channel_type, "unknown channel type 'pager'"),
        (_unknown_channel_key, "unknown keys \\['url'\\]"),
        (_duplicate_rule, "rule names must be unique"),
        (_missing_notification_kind, "missing keys \\['board_report_held'\\]"),
        (_unknown_notification_channel, "unknown channels \\['slack_nobody'\\]"),
    ],
)
def test_invalid_config_is_rejected(change, message):
    data = _shipped()
    change(data)
    with pytest.raises(ConfigError, match=message):
        parse_alerts_config(data, SOURCE)


def test_error_names_the_rule():
    data = _shipped()
    _rule(data, "churn_spike_alert")["condition"]["operator"] = "=<"
    with pytest.raises(ConfigError, match="churn_spike_alert"):
        parse_alerts_config(data, SOURCE)


def test_invalid_email_address_is_rejected():
    data = _shipped()
    data["channels"]["email_finance"]["to"] = ["finance at cloudflow"]
    with pytest.raises(ConfigError, match="not an e-mail address"):
        parse_alerts_config(data, SOURCE)
