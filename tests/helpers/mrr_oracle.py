"""An independent Python computation of monthly MRR from raw Stripe subscription versions.

End-to-end tests compare the SQL engine's analytics.mrr_monthly with this. It follows the
written metric rules directly (end-of-month snapshot, active and past_due only, licensed
recurring items, percent-off then amount-off discounts, minor units, FX per month) with plain
loops over the raw rows, and shares no code or SQL with the engine.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

MONTHS_PER_INTERVAL = {
    "month": Decimal(1),
    "year": Decimal(12),
    "week": Decimal(12) / Decimal(52),
    "day": Decimal(12) / Decimal(365),
}
ZERO_DECIMAL_CURRENCIES = {"jpy", "krw", "vnd", "clp", "isk"}


def _utc(seconds) -> dt.datetime | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(float(seconds), tz=dt.UTC)


def _add_months(value: dt.datetime, months: int) -> dt.datetime:
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    day = min(value.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
                          31, 31, 30, 31, 30, 31][month - 1])
    return value.replace(year=year, month=month, day=day)


def _month_starts(first: dt.date, last: dt.date):
    month = first
    while month <= last:
        yield month
        month = dt.date(month.year + (month.month // 12), month.month % 12 + 1, 1)


def _local_midnight(month: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime(month.year, month.month, 1, tzinfo=zone).astimezone(dt.UTC)


def _subscription_mrr_minor(version: dict, snapshot: dt.datetime, discount_policy: str) -> tuple[str, Decimal]:
    """Return (currency, MRR in minor units) of one subscription version at `snapshot`."""
    if version["status"] not in ("active", "past_due") or version.get("is_deleted"):
        return version["currency"], Decimal(0)
    gross = Decimal(0)
    months_in_interval = Decimal(1)
    currency = version["currency"]
    for item in (version["items"] or {}).get("data", []):
        price = item["price"]
        currency = price.get("currency") or currency
        recurring = price.get("recurring") or {}
        if price.get("type", "recurring") != "recurring" or recurring.get("usage_type", "licensed") != "licensed":
            continue
        months_in_interval = MONTHS_PER_INTERVAL[recurring["interval"]] * Decimal(recurring["interval_count"])
        unit_amount = price.get("unit_amount")
        if unit_amount is None:
            unit_amount = price["unit_amount_decimal"]
        gross += Decimal(str(unit_amount)) * Decimal(item.get("quantity", 1)) / months_in_interval

    discount = version.get("discount")
    if discount and discount.get("coupon"):
        coupon = discount["coupon"]
        start = _utc(discount.get("start"))
        end = _utc(discount.get("end"))
        if end is None and coupon.get("duration") == "repeating":
            end = _add_months(start, int(coupon["duration_in_months"]))
        is_active = start is not None and start <= snapshot and (end is None or end > snapshot)
        if discount_policy == "forever_only" and coupon.get("duration") != "forever":
            is_active = False
        if is_active:
            gross = gross * (1 - Decimal(str(coupon.get("percent_off") or 0)) / 100)
            gross -= Decimal(str(coupon.get("amount_off") or 0)) / months_in_interval
    return currency.lower(), max(gross, Decimal(0))


def monthly_mrr(
    subscription_rows: list[dict],
    fx_rates: dict[tuple[dt.date, str], Decimal],
    as_of: dt.datetime,
    time_zone: str = "UTC",
    reporting_currency: str = "usd",
    discount_policy: str = "all_active",
) -> dict[dt.date, dict]:
    """Return, per month, the reporting-currency totals: mrr, paying customers and movements."""
    zone = ZoneInfo(time_zone)
    versions_by_subscription: dict[str, dict[int, dict]] = defaultdict(dict)
    for row in subscription_rows:
        versions_by_subscription[row["id"]][row["updated"]] = row

    first_update = min(_utc(row["updated"]) for row in subscription_rows)
    first_month = first_update.astimezone(zone).date().replace(day=1)
    last_month = (as_of - dt.timedelta(microseconds=1)).astimezone(zone).date().replace(day=1)

    customer_mrr: dict[dt.date, dict[str, Decimal]] = {}
    for month in _month_starts(first_month, last_month):
        next_month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
        snapshot = min(_local_midnight(next_month, zone), as_of)
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for versions in versions_by_subscription.values():
            ordered = [versions[key] for key in sorted(versions)]
            for index, version in enumerate(ordered):
                valid_from = _utc(version["updated"])
                valid_to = _utc(ordered[index + 1]["updated"]) if index + 1 < len(ordered) else None
                if valid_from < snapshot and (valid_to is None or valid_to >= snapshot):
                    currency, minor = _subscription_mrr_minor(version, snapshot, discount_policy)
                    divisor = Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal(100)
                    rate = Decimal(1) if currency == reporting_currency else fx_rates[(month, currency)]
                    totals[version["customer"]] += minor / divisor * rate
                    break
        customer_mrr[month] = totals

    results = {}
    seen_active: set[str] = set()
    previous: dict[str, Decimal] = {}
    for month in sorted(customer_mrr):
        current = customer_mrr[month]
        summary = defaultdict(Decimal)
        for customer in set(current) | set(previous):
            now_mrr, before = current.get(customer, Decimal(0)), previous.get(customer, Decimal(0))
            if now_mrr > 0 and customer not in seen_active:
                summary["new_mrr"] += now_mrr
            elif now_mrr == 0 and before > 0:
                summary["churned_mrr"] += before
            elif now_mrr > 0 and before == 0:
                summary["reactivation_mrr"] += now_mrr
            elif now_mrr > before:
                summary["expansion_mrr"] += now_mrr - before
            elif now_mrr < before:
                summary["contraction_mrr"] += before - now_mrr
            if now_mrr > 0:
                seen_active.add(customer)
        summary["mrr"] = sum(current.values(), Decimal(0))
        summary["paying_customers"] = sum(1 for value in current.values() if value > 0)
        results[month] = dict(summary)
        previous = current
    return results
