"""Two-proportion z-test against values computed by hand.

Control 200/1000, treatment 250/1000: pooled rate 450/2000 = 0.225, pooled standard error
sqrt(0.225 * 0.775 * (1/1000 + 1/1000)) = 0.0186749, z = 0.05 / 0.0186749 = 2.67740, two-sided
p = 2 * (1 - Phi(2.67740)) = 0.00742. Unpooled standard error sqrt(0.2 * 0.8 / 1000 + 0.25 *
0.75 / 1000) = 0.0186414; the 95 % interval is 0.05 -/+ 1.959964 * 0.0186414 = [0.013464,
0.086536] and the 99 % interval 0.05 -/+ 2.575829 * 0.0186414 = [0.001983, 0.098017].
"""

from __future__ import annotations

import pytest

from saas_metrics.governance.statistics import two_proportion_z_test


@pytest.fixture
def result():
    return two_proportion_z_test(200, 1000, 250, 1000)


def test_difference(result):
    assert result.difference == pytest.approx(0.05)


def test_z_score(result):
    assert result.z_score == pytest.approx(2.67740, abs=1e-5)


def test_two_sided_p_value(result):
    assert result.p_value == pytest.approx(0.00742, abs=1e-5)


def test_confidence_interval(result):
    assert result.ci_low == pytest.approx(0.013464, abs=1e-6)
    assert result.ci_high == pytest.approx(0.086536, abs=1e-6)


def test_wider_interval_at_99_percent():
    result = two_proportion_z_test(200, 1000, 250, 1000, confidence_level=0.99)
    assert result.ci_low == pytest.approx(0.001983, abs=1e-6)
    assert result.ci_high == pytest.approx(0.098017, abs=1e-6)


def test_swapped_groups_flip_sign(result):
    swapped = two_proportion_z_test(250, 1000, 200, 1000)
    assert swapped.z_score == pytest.approx(-result.z_score)
    assert swapped.p_value == pytest.approx(result.p_value)


def test_equal_rates_not_significant():
    result = two_proportion_z_test(50, 500, 100, 1000)
    assert result.z_score == pytest.approx(0.0)
    assert result.p_value == pytest.approx(1.0)


def test_no_conversions_gives_p_one():
    result = two_proportion_z_test(0, 100, 0, 120)
    assert result.z_score == 0.0
    assert result.p_value == 1.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((0, 0, 1, 10), "at least one"),
        ((11, 10, 1, 10), "11 successes out of 10"),
        ((1, 10, -1, 10), "-1 successes"),
    ],
)
def test_invalid_counts_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        two_proportion_z_test(*arguments)


def test_invalid_confidence_rejected():
    with pytest.raises(ValueError, match="confidence_level"):
        two_proportion_z_test(1, 10, 2, 10, confidence_level=95)
