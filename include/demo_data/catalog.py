"""The simulated company's Stripe catalog, coupons, segments and simulation rates.

Amounts are in the currency's minor unit, as Stripe stores them, except for zero-decimal
currencies such as JPY where the amount is in yen. All prices are per seat (quantity = seats)
except the metered API add-on, which is billed per block of 1,000 API calls in arrears.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

# Minor units per currency unit. JPY is a zero-decimal currency.
MINOR_UNITS = {"usd": 100, "eur": 100, "jpy": 1}

# Months in one billing interval: MRR is the interval's amount divided by this.
MONTHS_PER_INTERVAL = {"month": 1.0, "year": 12.0, "week": 12.0 / 52.0, "day": 12.0 / 365.0}

TIER_RANK = {"free": 0, "starter": 1, "team": 2, "business": 3, "enterprise": 4}


def _stable_id(prefix: str, key: str, length: int = 24) -> str:
    """Return an id that depends only on `key`, so the catalog is the same for every seed."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, remainder = divmod(number, 62)
        chars.append(alphabet[remainder])
    return prefix + "".join(chars)


@dataclass(frozen=True)
class Product:
    key: str
    name: str

    @property
    def id(self) -> str:
        return _stable_id("prod_", "product:" + self.key, 14)


@dataclass(frozen=True)
class Price:
    """One Stripe price; `json` and `plan_json` are its price and legacy plan objects."""

    key: str
    product: Product
    tier: str
    currency: str
    unit_amount: int
    interval: str
    interval_count: int = 1
    usage_type: str = "licensed"
    id: str = field(init=False)
    json: str = field(init=False, repr=False)
    plan_json: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        price_id = _stable_id("price_", "price:" + self.key)
        object.__setattr__(self, "id", price_id)
        # A subset of Stripe's price and plan objects: the fields that MRR and billing need.
        recurring = {
            "interval": self.interval,
            "interval_count": self.interval_count,
            "usage_type": self.usage_type,
        }
        price = {
            "id": price_id,
            "object": "price",
            "currency": self.currency,
            "unit_amount": self.unit_amount,
            "unit_amount_decimal": str(self.unit_amount),
            "type": "recurring",
            "product": self.product.id,
            "recurring": recurring,
        }
        plan = {
            "id": price_id,
            "object": "plan",
            "amount": self.unit_amount,
            "currency": self.currency,
            "interval": self.interval,
            "interval_count": self.interval_count,
            "usage_type": self.usage_type,
            "product": self.product.id,
        }
        object.__setattr__(self, "json", json.dumps(price, separators=(",", ":")))
        object.__setattr__(self, "plan_json", json.dumps(plan, separators=(",", ":")))

    @property
    def metered(self) -> bool:
        return self.usage_type == "metered"

    @property
    def months(self) -> float:
        return MONTHS_PER_INTERVAL[self.interval] * self.interval_count

    def monthly_amount(self, quantity: int) -> float:
        """Return the monthly-normalised amount in minor units for `quantity` seats."""
        if self.metered:
            return 0.0
        return self.unit_amount * quantity / self.months


PRODUCTS = {
    key: Product(key, name)
    for key, name in (
        ("free", "CloudFlow Free"),
        ("starter", "CloudFlow Starter"),
        ("team", "CloudFlow Team"),
        ("business", "CloudFlow Business"),
        ("enterprise", "CloudFlow Enterprise"),
        ("api_overage", "CloudFlow API overage"),
    )
}


def _price(tier: str, currency: str, amount: int, interval: str, usage_type: str = "licensed") -> Price:
    product = PRODUCTS[tier]
    key = f"{product.key}_{interval}_{currency}"
    return Price(key, product, tier, currency, amount, interval, 1, usage_type)


_PRICE_LIST = [
    _price("free", "usd", 0, "month"),
    _price("free", "eur", 0, "month"),
    _price("free", "jpy", 0, "month"),
    _price("starter", "usd", 1_900, "month"),
    _price("starter", "eur", 1_800, "month"),
    _price("starter", "usd", 500, "week"),
    _price("team", "usd", 1_500, "month"),
    _price("team", "eur", 1_500, "month"),
    _price("team", "jpy", 2_000, "month"),
    _price("team", "usd", 15_000, "year"),
    _price("team", "eur", 15_000, "year"),
    _price("business", "usd", 3_000, "month"),
    _price("business", "eur", 3_000, "month"),
    _price("business", "usd", 30_000, "year"),
    _price("business", "eur", 30_000, "year"),
    _price("enterprise", "usd", 48_000, "year"),
    _price("enterprise", "eur", 48_000, "year"),
    # The metered add-on must share the subscription's interval, as Stripe requires.
    _price("api_overage", "usd", 50, "month", "metered"),
    _price("api_overage", "eur", 50, "month", "metered"),
    _price("api_overage", "usd", 50, "year", "metered"),
    _price("api_overage", "eur", 50, "year", "metered"),
]
PRICES = {(p.tier, p.interval, p.currency): p for p in _PRICE_LIST}


def price_for(tier: str, interval: str, currency: str) -> Price | None:
    return PRICES.get((tier, interval, currency))


@dataclass(frozen=True)
class Coupon:
    id: str
    name: str
    duration: str
    percent_off: float | None = None
    amount_off: int | None = None
    currency: str | None = None
    duration_in_months: int | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "object": "coupon",
            "name": self.name,
            "percent_off": self.percent_off,
            "amount_off": self.amount_off,
            "currency": self.currency,
            "duration": self.duration,
            "duration_in_months": self.duration_in_months,
            "valid": True,
        }


COUPONS = {
    "welcome": Coupon(
        "WELCOME20", "Welcome 20% for 3 months", "repeating", percent_off=20.0, duration_in_months=3
    ),
    "loyal": Coupon("PARTNER10", "Partner 10% forever", "forever", percent_off=10.0),
    "fixed": Coupon("SAVE50USD", "50 USD off forever", "forever", amount_off=5_000, currency="usd"),
}

# Segments by customer MRR in USD per month (lower bounds), highest first.
SEGMENT_THRESHOLDS_USD = (
    ("enterprise", 5_000.0),
    ("mid_market", 1_000.0),
    ("smb", 200.0),
    ("self_serve", 0.0),
)


def segment_of(mrr_usd: float) -> str:
    for segment, threshold in SEGMENT_THRESHOLDS_USD:
        if mrr_usd >= threshold:
            return segment
    return "self_serve"


@dataclass(frozen=True)
class SegmentProfile:
    """Plan mix, target MRR range in USD and monthly churn rate of one customer segment."""

    mrr_low: float
    mrr_high: float
    plans: tuple[tuple[str, str, float], ...]  # (tier, interval, weight)
    monthly_churn: float


SEGMENTS = {
    "self_serve": SegmentProfile(
        15.0,
        190.0,
        (
            ("starter", "month", 0.52),
            ("team", "month", 0.28),
            ("team", "year", 0.10),
            ("business", "month", 0.09),
            ("starter", "week", 0.01),
        ),
        0.019,
    ),
    "smb": SegmentProfile(
        205.0,
        580.0,
        (
            ("team", "month", 0.40),
            ("team", "year", 0.20),
            ("business", "month", 0.25),
            ("business", "year", 0.10),
            ("starter", "month", 0.05),
        ),
        0.0135,
    ),
    "mid_market": SegmentProfile(
        1_020.0,
        3_100.0,
        (("business", "month", 0.35), ("business", "year", 0.40), ("team", "year", 0.25)),
        0.009,
    ),
    "enterprise": SegmentProfile(5_100.0, 12_000.0, (("enterprise", "year", 1.0),), 0.005),
}

# Segment mix of the customer base at history start and of new customers afterwards.
INITIAL_SEGMENT_MIX = {"self_serve": 0.595, "smb": 0.33, "mid_market": 0.065, "enterprise": 0.010}
NEW_SEGMENT_MIX = {"self_serve": 0.66, "smb": 0.285, "mid_market": 0.048, "enterprise": 0.007}


@dataclass(frozen=True)
class Rates:
    """Monthly simulation rates at scale 1 (shares of the paying customer base unless noted)."""

    initial_customers: int = 3_400
    new_customers: float = 0.028
    expansion: float = 0.04
    contraction: float = 0.02
    reactivation_share: float = 0.08  # of churned customers, 2 to 6 months later
    free_plan_share: float = 0.02  # of new subscriptions
    free_plan_churn: float = 0.01
    trial_share: float = 0.40  # of new self-serve and SMB subscriptions
    trial_conversion: float = 0.75
    trial_days: int = 14
    eur_share: float = 0.15
    jpy_initial_customers: int = 16
    jpy_new_share: float = 0.003
    cancel_at_period_end_share: float = 0.70
    past_due_share: float = 0.02  # of renewals
    past_due_recovery: float = 0.90
    metered_addon_share: float = 0.10  # of Mid-Market and Enterprise subscriptions
    welcome_coupon_share: float = 0.12
    loyal_coupon_share: float = 0.03
    fixed_coupon_share: float = 0.01
    free_workspaces_per_month: float = 95.0
    free_workspace_conversion_share: float = 0.30  # of new customers who had a free workspace
    users_per_seat: float = 0.30
    legacy_writer_share: float = 0.12
    sessions_per_seat_day: float = 0.0040
    tickets_per_customer_month: float = 0.40
    visitors_per_month: float = 1_150.0
    finance_arr_markup: float = 0.003


RATES = Rates()
