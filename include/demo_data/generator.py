"""Month-by-month simulation of the demo company, and the cut at `until`.

`generate` simulates from `history_start` through the end of the month that contains `until`,
then keeps only rows extracted (or, for the finance tables, reported) at or before `until`.
Each month draws from generators seeded by (seed, month) or (seed, day), and reads only the
state left by the month before, so generating with a later `until` adds rows but never changes
a row that the earlier run kept. The generator never reads the wall clock.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime

import numpy as np

from include.demo_data import billing, product, sources
from include.demo_data.catalog import MINOR_UNITS, RATES
from include.demo_data.dataset import BatchTable, DemoDataset, EventTable, FinanceMonth, FxRate, LineTable
from include.demo_data.envelope import Batch
from include.demo_data.model import Company, MonthSnapshot
from include.demo_data.schema import (
    AIRBYTE_TABLES,
    FINANCE_ARR_REPORTED,
    FINANCE_FX_RATES,
    PRODUCT_EVENTS,
    STRIPE_CUSTOMERS,
)
from include.demo_data.seeding import PooledGenerator, epoch, month_key, month_start, next_month, rng_for

log = logging.getLogger(__name__)

DEFAULT_SEED = 42
DEFAULT_SCALE = 1.0
DEFAULT_HISTORY_START = date(2024, 12, 1)
DEFAULT_UNTIL = datetime(2026, 12, 4, 7, tzinfo=UTC)

EUR_RATE_RANGE = (1.05, 1.12)
JPY_RATE_CENTER = 0.0066


def generate(
    seed: int = DEFAULT_SEED,
    scale: float = DEFAULT_SCALE,
    history_start: date = DEFAULT_HISTORY_START,
    until: datetime = DEFAULT_UNTIL,
) -> DemoDataset:
    """Simulate the company and return every raw table as of `until`.

    :param seed: non-negative integer; the same arguments always give the same rows.
    :param scale: multiplies customers, workspaces, users, events and tickets (1.0 is about
        4,200 paying customers after 24 months and 1.5 to 2.5 million events).
    :param history_start: first day of the first simulated month (UTC).
    :param until: timezone-aware cut-off; rows extracted later are dropped.
    """
    _validate(seed, scale, history_start, until)
    started = time.perf_counter()
    company = Company(seed, scale, epoch(history_start), RATES)
    months = _months(history_start, until)
    log.info(
        "Generating demo data: seed %s, scale %s, %d months from %s to %s",
        seed,
        scale,
        len(months),
        history_start,
        until.isoformat(),
    )

    for elapsed, (year, month) in enumerate(months):
        _simulate_month(company, year, month, elapsed)

    dataset = _assemble(company, seed, scale, history_start, until)
    dataset.timings["generate_seconds"] = time.perf_counter() - started
    log.info(
        "Generated %d rows in %.1f s: %s",
        sum(dataset.row_counts().values()),
        dataset.timings["generate_seconds"],
        dataset.row_counts(),
    )
    return dataset


def _validate(seed: int, scale: float, history_start: date, until: datetime) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if isinstance(history_start, datetime) or history_start.day != 1:
        raise ValueError(f"history_start must be the date of a month's first day, got {history_start!r}")
    if not isinstance(until, datetime) or until.tzinfo is None:
        raise ValueError(f"until must be a timezone-aware datetime, got {until!r}")
    if epoch(until) <= epoch(history_start):
        raise ValueError(f"until ({until.isoformat()}) must be after history_start ({history_start})")


def _months(history_start: date, until: datetime) -> list[tuple[int, int]]:
    last = until.astimezone(UTC)
    months = [(history_start.year, history_start.month)]
    while months[-1] != (last.year, last.month):
        months.append(next_month(*months[-1]))
    return months


def _simulate_month(company: Company, year: int, month: int, elapsed: int) -> None:
    started = time.perf_counter()
    key = month_key(year, month)
    company.month_key = key
    company.month_start = month_start(year, month)
    company.month_end = month_start(*next_month(year, month))
    company.fx[key] = _fx_rates(company, key, elapsed)

    start_weights = company.activity_weights
    company.rng = PooledGenerator(rng_for(company.seed, "billing", key))
    if elapsed == 0:
        billing.create_initial_base(company)
    billing.run_month(company)
    company.snapshots.append(_snapshot(company, year, month))

    company.rng = PooledGenerator(rng_for(company.seed, "product", key))
    product.run_free_signups(company)
    activity = product.run_events(company, start_weights)
    sources.run_segment_month(company, elapsed)
    sources.run_zendesk_month(company)
    sources.run_aws_month(company, activity)
    company.signups.clear()

    for buffer in company.buffers.values():
        buffer.seal(key)
    snapshot = company.snapshots[-1]
    log.info(
        "Simulated %04d-%02d in %.1f s: %d paying customers, MRR %.0f USD, %d events",
        year,
        month,
        time.perf_counter() - started,
        snapshot.paying_customers,
        snapshot.mrr_usd,
        len(company.event_batches[-1]["id"]),
    )


def _fx_rates(company: Company, key: int, elapsed: int) -> dict[str, float]:
    """Return the month's USD rates: EUR as a bounded random walk, JPY near 0.0066.

    Rates are rounded to 6 decimals, the precision of the fx_rates file, so that the true MRR
    and anything recomputed from the file use the same numbers.
    """
    rng = rng_for(company.seed, "fx", key)
    previous = company.fx.get(key - 1, {}).get("eur", 1.08) if elapsed else 1.08
    eur = float(np.clip(previous + rng.normal(0.0, 0.012), *EUR_RATE_RANGE))
    jpy = JPY_RATE_CENTER * float(np.clip(1 + rng.normal(0.0, 0.02), 0.95, 1.05))
    return {"usd": 1.0, "eur": round(eur, 6), "jpy": round(jpy, 6)}


def _snapshot(company: Company, year: int, month: int) -> MonthSnapshot:
    """Record true MRR at the month's end: the last version of each subscription before it."""
    boundary = company.month_end
    fx = company.fx[company.month_key]
    totals: dict[str, float] = {}
    paying = 0
    for customer in company.customers:
        value = sum(sub.mrr_at(boundary) for sub in customer.subscriptions)
        if value > 0:
            paying += 1
            totals[customer.currency] = totals.get(customer.currency, 0.0) + value
    usd = sum(value / MINOR_UNITS[currency] * fx[currency] for currency, value in totals.items())
    return MonthSnapshot(year, month, boundary, totals, usd, paying, fx)


def _assemble(company: Company, seed: int, scale: float, history_start: date, until: datetime) -> DemoDataset:
    cutoff = epoch(until)
    tables = {}
    for spec in AIRBYTE_TABLES:
        if spec is PRODUCT_EVENTS:
            tables[spec.qualified_name] = _events_table(company, cutoff)
            continue
        batches = _cut(company.buffers[spec.qualified_name].batches, cutoff)
        if spec is STRIPE_CUSTOMERS:
            batches = _latest_customer_versions(batches)
        tables[spec.qualified_name] = BatchTable(spec, batches)

    finance, fx_rates = _finance(company, cutoff)
    tables[FINANCE_ARR_REPORTED.qualified_name] = LineTable(
        FINANCE_ARR_REPORTED,
        [
            f"{row.month.isoformat()}\t{row.reported_arr_usd:.2f}\t{row.reported_at.isoformat()}"
            for row in finance
        ],
    )
    tables[FINANCE_FX_RATES.qualified_name] = LineTable(
        FINANCE_FX_RATES,
        [f"{rate.month.isoformat()}\t{rate.currency}\t{rate.rate_to_usd:.6f}" for rate in fx_rates],
    )
    return DemoDataset(
        seed=seed,
        scale=scale,
        history_start=history_start,
        until=until,
        tables=tables,
        finance=finance,
        fx_rates=fx_rates,
        mrr_usd_by_month={date(s.year, s.month, 1): s.mrr_usd for s in company.snapshots},
        paying_customers_by_month={date(s.year, s.month, 1): s.paying_customers for s in company.snapshots},
    )


def _cut(batches: list[Batch], cutoff: int) -> list[Batch]:
    """Return the batches with only rows extracted at or before `cutoff`."""
    result = []
    for batch in batches:
        if len(batch) and batch.extracted.max() > cutoff:
            batch = batch.take(np.flatnonzero(batch.extracted <= cutoff))
        if len(batch):
            result.append(batch)
    return result


def _latest_customer_versions(batches: list[Batch]) -> list[Batch]:
    """Keep one row per customer: the version with the latest `updated` extracted by the cut-off.

    The customers stream is synced in append + deduped mode, so the table has one row per id.
    """
    best: dict[str, tuple[int, int, int, int]] = {}
    for batch_index, batch in enumerate(batches):
        for row, (values, updated, extracted) in enumerate(
            zip(batch.rows, batch.cursors.tolist(), batch.extracted.tolist(), strict=True)
        ):
            candidate = (updated, extracted, batch_index, row)
            customer_id = values[0]
            if customer_id not in best or candidate > best[customer_id]:
                best[customer_id] = candidate
    result = []
    for batch_index, batch in enumerate(batches):
        rows = sorted(row for _, _, index, row in best.values() if index == batch_index)
        if rows:
            result.append(batch.take(np.array(rows, dtype=np.int64)))
    return result


def _events_table(company: Company, cutoff: int) -> EventTable:
    keys = (
        "raw_bits",
        "extracted",
        "id",
        "workspace_id",
        "user_id",
        "name_code",
        "property_code",
        "legacy",
        "occurred_local",
    )
    columns = {key: np.concatenate([batch[key] for batch in company.event_batches]) for key in keys}
    keep = columns["extracted"] <= cutoff
    return EventTable(PRODUCT_EVENTS, {key: value[keep] for key, value in columns.items()})


def _finance(company: Company, cutoff: int) -> tuple[list[FinanceMonth], list[FxRate]]:
    """Return finance's reported ARR for each closed month reported by the cut-off, and the FX table.

    Finance reports ARR 0.3 % above the true ARR (a known, documented difference), a few hours
    after the month closes.
    """
    markup = 1 + company.rates.finance_arr_markup
    finance = []
    fx_rates = []
    for snapshot in company.snapshots:
        month = date(snapshot.year, snapshot.month, 1)
        if epoch(month) <= cutoff:
            for currency in ("eur", "jpy"):
                fx_rates.append(FxRate(month, currency, snapshot.fx[currency]))
        rng = rng_for(company.seed, "finance", month_key(snapshot.year, snapshot.month))
        reported_at = snapshot.boundary + int(rng.integers(30 * 60, 5 * 3600))
        if reported_at > cutoff:
            continue
        true_arr = 12 * snapshot.mrr_usd
        finance.append(
            FinanceMonth(
                month=month,
                true_mrr_usd=snapshot.mrr_usd,
                true_arr_usd=true_arr,
                reported_arr_usd=round(true_arr * markup, 2),
                reported_at=datetime.fromtimestamp(reported_at, UTC),
            )
        )
    return finance, fx_rates
