"""The simulated company's state: customers, subscriptions, workspaces, users and the event queue.

All times are unix seconds (UTC). The state after month M is everything month M+1 needs, so the
generator can run month after month with a fresh random generator for each.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field

import numpy as np

from include.demo_data.catalog import MINOR_UNITS, RATES, TIER_RANK, Coupon, Price, Rates
from include.demo_data.envelope import RowBuffer
from include.demo_data.schema import AIRBYTE_TABLES
from include.demo_data.seeding import PooledGenerator

LIVE_STATUSES = ("trialing", "active", "past_due")
PAYING_STATUSES = ("active", "past_due")

# Queue order of events at the same second. A sequence number breaks the remaining ties, so
# the order never depends on object identity.
PRIORITY = {
    "discount_end": 0,
    "trial_end": 1,
    "renew": 2,
    "past_due_resolve": 3,
    "unpaid_cancel": 3,
    "invoice_paid": 3,
    "churn": 4,
    "expand": 4,
    "contract": 4,
    "new_customer": 5,
    "reactivate": 5,
    "renewal_opportunity": 5,
}


@dataclass(eq=False)
class Item:
    id: str
    price: Price
    quantity: int | None
    created: int

    def json(self) -> str:
        """Return the item as Stripe lists it in `subscription.items`; metered items have no quantity."""
        key = (self.price.id, self.quantity)
        cached = self.__dict__.get("_json")
        if cached is not None and cached[0] == key:
            return cached[1]
        quantity = "" if self.quantity is None else f'"quantity":{self.quantity},'
        text = (
            f'{{"id":"{self.id}","object":"subscription_item",{quantity}"created":{self.created},'
            f'"price":{self.price.json},"plan":{self.price.plan_json}}}'
        )
        self.__dict__["_json"] = (key, text)
        return text


@dataclass(eq=False)
class Discount:
    id: str
    coupon: Coupon
    start: int
    end: int | None

    def json(self, customer_id: str, subscription_id: str) -> str:
        return json.dumps(
            {
                "id": self.id,
                "object": "discount",
                "coupon": self.coupon.as_dict(),
                "customer": customer_id,
                "subscription": subscription_id,
                "start": self.start,
                "end": self.end,
            },
            separators=(",", ":"),
        )


@dataclass(eq=False)
class Account:
    """A Salesforce Account, kept for Mid-Market and Enterprise customers."""

    id: str
    name: str
    industry: str
    employees: int
    created: int


@dataclass(eq=False)
class Opportunity:
    id: str
    account: Account
    name: str
    type: str
    amount: float
    close_date: int
    created: int


@dataclass(eq=False)
class Subscription:
    id: str
    customer: Customer
    currency: str
    created: int
    items: list[Item]
    anchor: int
    status: str = "active"
    cycle: int = 0
    period_start: int = 0
    period_end: int = 0
    trial_start: int | None = None
    trial_end: int | None = None
    canceled_at: int | None = None
    cancel_at: int | None = None
    ended_at: int | None = None
    cancel_at_period_end: bool = False
    discount: Discount | None = None
    collection_method: str = "charge_automatically"
    last_updated: int = -1
    # (updated, MRR in minor units) for every version row: the generator's MRR bookkeeping.
    mrr_history: list[tuple[int, float]] = field(default_factory=list)
    open_invoice: Invoice | None = None
    renewal_opportunity: Opportunity | None = None

    # A subscription has exactly one licensed item, items[0], and a metered add-on can follow it.
    @property
    def licensed_items(self) -> list[Item]:
        return self.items[:1]

    @property
    def main_item(self) -> Item:
        return self.items[0]

    @property
    def interval(self) -> str:
        return self.main_item.price.interval

    @property
    def tier(self) -> str:
        return self.main_item.price.tier

    @property
    def is_free(self) -> bool:
        return self.main_item.price.unit_amount == 0

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    def gross_mrr(self) -> float:
        return sum(item.price.monthly_amount(item.quantity) for item in self.licensed_items)

    def mrr(self) -> float:
        """Return MRR in minor units: active or past_due only, net of the discount, never below 0."""
        if self.status not in PAYING_STATUSES:
            return 0.0
        value = self.gross_mrr()
        if self.discount is not None:
            coupon = self.discount.coupon
            if coupon.percent_off:
                value *= 1 - coupon.percent_off / 100
            if coupon.amount_off:
                value -= coupon.amount_off / self.main_item.price.months
        return max(value, 0.0)

    @property
    def current_mrr(self) -> float:
        """MRR of the latest version row (every state change writes one)."""
        return self.mrr_history[-1][1] if self.mrr_history else 0.0

    def mrr_at(self, boundary: int) -> float:
        """Return the MRR of the last version updated strictly before `boundary`."""
        for updated, value in reversed(self.mrr_history):
            if updated < boundary:
                return value
        return 0.0


@dataclass(eq=False)
class Invoice:
    id: str
    number: str
    subscription: Subscription
    billing_reason: str
    created: int
    period_start: int
    period_end: int
    subtotal: int
    total: int
    discount_total: int
    discount_json: str | None
    discount_amounts_json: str
    lines: list[str] = field(default_factory=list)  # COPY text up to invoice_updated


@dataclass(eq=False)
class Customer:
    id: str
    email: str
    name: str
    currency: str
    country: str
    created: int
    segment: str
    workspace: Workspace
    payment_method: str
    address_json: str
    invoice_prefix: str
    workspace_metadata: str
    subscriptions: list[Subscription] = field(default_factory=list)
    delinquent: bool = False
    balance: int = 0
    invoice_count: int = 0
    account: Account | None = None
    ever_paid: bool = False

    def live_subscriptions(self) -> list[Subscription]:
        return [sub for sub in self.subscriptions if sub.status in LIVE_STATUSES]

    def mrr(self) -> float:
        return sum(sub.current_mrr for sub in self.subscriptions)

    def mrr_usd(self, rates: dict[str, float]) -> float:
        return self.mrr() / MINOR_UNITS[self.currency] * rates.get(self.currency, 1.0)

    def plan_tier(self) -> str:
        tiers = [sub.tier for sub in self.live_subscriptions()]
        return max(tiers, key=TIER_RANK.__getitem__) if tiers else "free"

    def seats(self, live: list[Subscription] | None = None) -> int:
        """Return licensed seats over the live subscriptions (pass them when already known)."""
        if live is None:
            live = self.live_subscriptions()
        return sum(sub.items[0].quantity for sub in live)


@dataclass(eq=False)
class Workspace:
    index: int
    id: int
    name: str
    domain: str
    country: str
    created: int
    updated: int
    customer: Customer | None = None
    plan_tier: str = "free"
    user_indexes: list[int] = field(default_factory=list)


class Users:
    """Product users, stored column-wise because events sample from them by the million."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.workspace_index: list[int] = []
        self.email: list[str] = []
        self.full_name: list[str] = []
        self.role: list[str] = []
        self.ip_address: list[str] = []
        self.created: list[int] = []
        self.first_month: list[int] = []  # month key from which events may use the user

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Signup:
    """A sign-up or trial start that the marketing site tracks in Segment."""

    time: int
    event: str
    user_id: int
    workspace_id: int
    plan: str


@dataclass
class MonthSnapshot:
    """The generator's true MRR at the end of one month (the first instant of the next)."""

    year: int
    month: int
    boundary: int
    mrr_minor: dict[str, float]
    mrr_usd: float
    paying_customers: int
    fx: dict[str, float]


class Company:
    """Everything that carries over from one simulated month to the next."""

    def __init__(self, seed: int, scale: float, history_start: int, rates: Rates = RATES):
        self.seed = seed
        self.scale = scale
        self.history_start = history_start
        self.rates = rates

        self.customers: list[Customer] = []
        self.workspaces: list[Workspace] = []
        self.users = Users()
        self.queue: list[tuple] = []
        self.sequence = 0
        self.next_workspace_id = 10_001
        self.next_user_id = 500_001
        self.next_event_id = 1
        self.next_ticket_id = 100_001

        self.fx: dict[int, dict[str, float]] = {}
        self.snapshots: list[MonthSnapshot] = []
        self.signups: list[Signup] = []
        self.free_workspace_pool: list[Workspace] = []
        self.rng: PooledGenerator | None = None
        self.month_key = 0
        self.month_start = 0
        self.month_end = 0

        self.buffers = {
            spec.qualified_name: RowBuffer(
                spec,
                seed,
                duplicate_share=0.005 if spec.qualified_name == "raw_stripe.subscriptions" else 0.0,
                legacy_share=rates.legacy_writer_share if spec.name in ("workspaces", "users") else 0.0,
            )
            for spec in AIRBYTE_TABLES
            if spec.qualified_name != "raw_product.events"
        }
        self.event_batches: list[dict[str, np.ndarray]] = []

        # Product activity per workspace at the end of the last simulated month, the live
        # workspaces with their seats, and the week of each user's last last_seen_at write.
        self.activity_weights = np.zeros(0)
        self.live_workspaces: list[tuple[Workspace, int]] = []
        self.user_seen_week = np.zeros(0, dtype=np.int64)

    def token(self, length: int) -> str:
        return self.rng.token(length)

    def emit(self, table: str, row: tuple | str, cursor: int, extracted: int = -1) -> None:
        self.buffers[table].add(row, cursor, extracted)

    def schedule(self, time: int, kind: str, target: object, payload: object = None) -> None:
        self.sequence += 1
        heapq.heappush(self.queue, (time, PRIORITY[kind], self.sequence, kind, target, payload))

    def pop_until(self, end: int):
        """Yield queued events with time < end, in time order."""
        while self.queue and self.queue[0][0] < end:
            yield heapq.heappop(self.queue)

    @property
    def current_fx(self) -> dict[str, float]:
        return self.fx[self.month_key]

    def workspace_free_list(self) -> list[Workspace]:
        """Return workspaces that never had a Stripe customer."""
        return [workspace for workspace in self.workspaces if workspace.customer is None]
