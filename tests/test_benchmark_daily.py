"""The daily benchmark's comparison: which days it measures and how it compares their times."""

from __future__ import annotations

import datetime as dt
import importlib.util

import pytest

from tests.helpers.models import PROJECT_ROOT, daily_dag


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_daily", PROJECT_ROOT / "scripts" / "benchmark_daily.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _history(benchmark, months: int, daily_seconds: list[float], first_daily_seconds: float, rows: list[int]):
    result = {"months": months, benchmark.FIRST_DAILY_RUN: {"metric_tasks_seconds": first_daily_seconds}}
    for (label, _), seconds, daily_rows in zip(benchmark.MEASURED_RUNS, daily_seconds, rows, strict=True):
        result[label] = {"metric_tasks_seconds": seconds, "daily_rows": daily_rows}
    return result


def test_ratio_of_medians(benchmark):
    """Disturbed runs, fewer than half of them, do not decide the comparison."""
    assert len(benchmark.MEASURED_RUNS) == 5
    short = _history(benchmark, 24, [6.0, 9.5, 6.2, 6.1, 6.4], 7.0, [1800, 1900, 2000, 1900, 1900])
    long = _history(benchmark, 48, [6.9, 6.8, 12.0, 11.0, 6.7], 8.4, [1700, 1900, 2100, 1900, 1900])

    assert benchmark.daily_ratio([short, long]) == pytest.approx(6.9 / 6.2)
    assert benchmark.daily_ratio([short, long], [benchmark.MEASURED_RUNS[2][0]]) == pytest.approx(12.0 / 6.2)
    assert benchmark.daily_ratio([short, long], [benchmark.FIRST_DAILY_RUN]) == pytest.approx(8.4 / 7.0)
    assert benchmark.daily_ratio([short]) is None
    assert benchmark.mean_daily_rows(long) == 1900


def test_measured_span(benchmark):
    """The measured days follow the first daily run, and the calibration counts all their rows."""
    offsets = [offset for _, offset in benchmark.RUNS]
    assert offsets == sorted(offsets)
    assert offsets[:2] == [0, 1]
    assert [offset for _, offset in benchmark.MEASURED_RUNS] == offsets[2:]
    assert len(benchmark.MEASURED_RUNS) >= 3

    start, end = benchmark.measured_span(daily_dag(), dt.date(2026, 11, 20))
    first_measured = dt.datetime(2026, 11, 20, 7, tzinfo=dt.UTC) + dt.timedelta(days=benchmark.MEASURED_RUNS[0][1])
    # A run's data interval is the day that ends at its logical date.
    assert start == first_measured - dt.timedelta(days=1)
    assert end == first_measured + dt.timedelta(days=len(benchmark.MEASURED_RUNS) - 1)
