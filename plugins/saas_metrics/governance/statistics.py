"""Two-proportion z-test for A/B test conversion rates, with the standard library only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class TwoProportionTest:
    """Comparison of variant B's conversion rate with control A's.

    difference is rate_b - rate_a. The z-score and the two-sided p-value use the pooled standard
    error, because the null hypothesis is equal rates. The confidence interval of the difference
    uses the unpooled (Wald) standard error.
    """

    rate_a: float
    rate_b: float
    difference: float
    z_score: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence_level: float


def two_proportion_z_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, confidence_level: float = 0.95
) -> TwoProportionTest:
    """Compare the conversion rates successes/trials of control A and variant B.

    When both groups convert at 0 % or both at 100 %, the pooled standard error is zero and the
    test is undefined; the result then has z = 0 and p = 1 (no evidence of a difference).
    """
    for name, successes, trials in (("a", successes_a, trials_a), ("b", successes_b, trials_b)):
        if trials <= 0:
            raise ValueError(f"Group {name} has {trials} trials; a proportion needs at least one")
        if not 0 <= successes <= trials:
            raise ValueError(f"Group {name} has {successes} successes out of {trials} trials")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level}")

    rate_a = successes_a / trials_a
    rate_b = successes_b / trials_b
    difference = rate_b - rate_a

    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    pooled_error = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if pooled_error == 0:
        z_score, p_value = 0.0, 1.0
    else:
        z_score = difference / pooled_error
        p_value = 2 * (1 - NormalDist().cdf(abs(z_score)))

    unpooled_error = math.sqrt(rate_a * (1 - rate_a) / trials_a + rate_b * (1 - rate_b) / trials_b)
    critical = NormalDist().inv_cdf(1 - (1 - confidence_level) / 2)
    return TwoProportionTest(
        rate_a=rate_a,
        rate_b=rate_b,
        difference=difference,
        z_score=z_score,
        p_value=p_value,
        ci_low=difference - critical * unpooled_error,
        ci_high=difference + critical * unpooled_error,
        confidence_level=confidence_level,
    )
