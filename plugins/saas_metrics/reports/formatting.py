"""Number formats shared by the PDF and HTML renderings of the board report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
MINUS = "\u2212"


def money(value: Decimal | float | None, currency: str, *, decimals: int = 0) -> str:
    """Format an amount as "$68,126", "€1.24M" or "CHF 980"; None becomes "n/a"."""
    if value is None:
        return "n/a"
    amount = float(value)
    sign = MINUS if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    prefix = symbol if symbol else f"{currency.upper()} "
    magnitude = abs(amount)
    text = f"{magnitude / 1e6:,.2f}M" if magnitude >= 1e6 else f"{magnitude:,.{decimals}f}"
    return f"{sign}{prefix}{text}"


def compact_money(value: float, currency: str) -> str:
    """Format an axis tick as "$68k" or "$1.2M"."""
    symbol = CURRENCY_SYMBOLS.get(currency.upper(), "")
    magnitude = abs(value)
    sign = MINUS if value < 0 else ""
    if magnitude >= 1e6:
        return f"{sign}{symbol}{magnitude / 1e6:.1f}M"
    if magnitude >= 1e3:
        return f"{sign}{symbol}{magnitude / 1e3:.0f}k"
    return f"{sign}{symbol}{magnitude:.0f}"


def percent(ratio: Decimal | float | None, *, decimals: int = 1) -> str:
    """Format a ratio as "91.8 %"; None becomes "n/a"."""
    if ratio is None:
        return "n/a"
    value = float(ratio) * 100
    sign = MINUS if value < 0 else ""
    return f"{sign}{abs(value):.{decimals}f} %"


def count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def relative_change(current, previous) -> float | None:
    """Return (current - previous) / previous, or None when either is missing or previous is 0."""
    if current is None or previous is None or float(previous) == 0:
        return None
    return (float(current) - float(previous)) / abs(float(previous))


def signed_percent(ratio: float | None, *, decimals: int = 1) -> str:
    if ratio is None:
        return ""
    value = ratio * 100
    sign = "+" if value >= 0 else MINUS
    return f"{sign}{abs(value):.{decimals}f} %"


def signed_points(current, previous, *, decimals: int = 1) -> str:
    """Format the change of a rate in percentage points, such as "+1.2 pts"."""
    if current is None or previous is None:
        return ""
    points = (float(current) - float(previous)) * 100
    sign = "+" if points >= 0 else MINUS
    return f"{sign}{abs(points):.{decimals}f} pts"


def signed_money(current, previous, currency: str) -> str:
    if current is None or previous is None:
        return ""
    difference = float(current) - float(previous)
    text = money(abs(difference), currency)
    return f"+{text}" if difference >= 0 else f"{MINUS}{text}"


def long_date(day: dt.date) -> str:
    """Format a date as "31 May 2026"."""
    return f"{day.day} {day:%B %Y}"


def short_month(day: dt.date) -> str:
    return day.strftime("%b %Y")
