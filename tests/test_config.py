"""Validation of include/config/metrics.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from saas_metrics.config import ConfigError, load_metrics_config, parse_metrics_config

SOURCE = Path("metrics.yml")


def _valid() -> dict:
    return yaml.safe_load((Path(__file__).resolve().parents[1] / "include/config/metrics.yml").read_text())


def test_shipped_config_is_valid():
    config = load_metrics_config()
    assert config.reporting_currency == "USD"
    assert config.correction_for("raw_product.events").local_time_zone == "America/Los_Angeles"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reporting_time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"reporting_currency": "dollars"}, "three-letter"),
        ({"discount_policy": "some"}, "discount_policy"),
        ({"churn_timing": "whenever"}, "churn_timing"),
        ({"reporting_timezone": "UTC"}, "unknown keys"),
    ],
)
def test_invalid_values_are_rejected(change, message):
    data = {**_valid(), **change}
    with pytest.raises(ConfigError, match=message):
        parse_metrics_config(data, SOURCE)


def test_correction_with_bad_column_is_rejected():
    data = _valid()
    data["timezone_corrections"][0]["columns"] = ["created_at; drop table x"]
    with pytest.raises(ConfigError, match="not a lowercase SQL identifier"):
        parse_metrics_config(data, SOURCE)


def test_correction_without_markers_is_rejected():
    data = _valid()
    data["timezone_corrections"][0]["marker_values"] = []
    with pytest.raises(ConfigError, match="marker_values is empty"):
        parse_metrics_config(data, SOURCE)


def test_missing_key_is_named():
    data = _valid()
    del data["reporting_currency"]
    with pytest.raises(ConfigError, match="missing key 'reporting_currency'"):
        parse_metrics_config(data, SOURCE)


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([{"name": "A", "min_mrr": 0}, {"name": "B", "min_mrr": 100}], "strictly decreasing"),
        ([{"name": "A", "min_mrr": 100}], "last segment must have min_mrr 0"),
        ([{"name": "A", "min_mrr": "lots"}, {"name": "B", "min_mrr": 0}], "must be a number"),
        ([{"name": "A", "threshold": 5}], "exactly the keys"),
        ([], "non-empty list"),
    ],
)
def test_invalid_segments_are_rejected(segments, message):
    with pytest.raises(ConfigError, match=message):
        parse_metrics_config({**_valid(), "segments": segments}, SOURCE)


def test_shipped_segments_in_order():
    names = [segment.name for segment in load_metrics_config().segments]
    assert names == ["Enterprise", "Mid-Market", "SMB", "Self-Serve"]
