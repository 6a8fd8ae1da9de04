"""Month boundaries of a run, the same ones the SQL models compute.

A run's data interval end is its "now". The open month is the month (in the reporting time
zone) that contains the last instant before that end, and the closed month is the one before
it; `OPEN_MONTH` in saas_metrics.models applies the same rule in SQL.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def open_month_start(data_interval_end: dt.datetime, time_zone: str) -> dt.date:
    """Return the first day of the month still open at `data_interval_end`."""
    if data_interval_end.tzinfo is None:
        raise ValueError(f"data_interval_end must be timezone-aware, got {data_interval_end!r}")
    last_instant = (data_interval_end - dt.timedelta(microseconds=1)).astimezone(ZoneInfo(time_zone))
    return last_instant.date().replace(day=1)


def closed_month_start(data_interval_end: dt.datetime, time_zone: str) -> dt.date:
    """Return the first day of the last month that ended at or before `data_interval_end`."""
    open_month = open_month_start(data_interval_end, time_zone)
    return (open_month - dt.timedelta(days=1)).replace(day=1)
