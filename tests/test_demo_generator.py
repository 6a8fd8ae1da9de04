"""Tests of the demo data generator and loader against the embedded PostgreSQL server.

Every test uses scale 0.05 (about 300 Stripe customers and 80,000 product events), which
generates in about 2 seconds.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from include.demo_data import DemoDataset, generate, load
from include.demo_data.loader import LoadError
from include.demo_data.schema import AIRBYTE_TABLES, ALL_TABLES

SEED = 7
SCALE = 0.05
UNTIL = datetime(2026, 12, 4, 7, tzinfo=UTC)
EARLIER_UNTIL = UNTIL - timedelta(days=30)
PRODUCT_TABLES = ("raw_product.workspaces", "raw_product.users", "raw_product.events")
AIRBYTE_NAMES = [spec.qualified_name for spec in AIRBYTE_TABLES]
ALL_NAMES = [spec.qualified_name for spec in ALL_TABLES]

# Expected rows at scale 0.05, from the rates in include/demo_data/catalog.py with room for
# random variation. The base is about 170 customers at the start, with 2.8 % new per month and
# monthly renewals. Events are 1.5 to 2.5 million at scale 1, and tickets 1,500 a month.
EXPECTED_ROWS = {
    "raw_stripe.customers": (200, 450),
    "raw_stripe.subscriptions": (3_000, 7_000),
    "raw_stripe.invoices": (3_000, 7_000),
    "raw_stripe.invoice_line_items": (3_000, 7_500),
    "raw_product.workspaces": (600, 1_300),
    "raw_product.users": (7_000, 16_000),
    "raw_product.events": (70_000, 130_000),
    "raw_segment.tracks": (3_500, 7_000),
    "raw_salesforce.account": (5, 60),
    "raw_salesforce.opportunity": (15, 250),
    # Seven services, a final and an estimated row per day from 2024-12-01 to 2026-12-03,
    # and the estimate of 2026-12-04 (its sync runs before 07:00).
    "raw_aws_cost.cost_and_usage": (7 * (2 * 733 + 1), 7 * (2 * 733 + 1)),
    "raw_zendesk.tickets": (3_500, 8_000),
    # Closed months December 2024 to November 2026.
    "raw_finance.arr_reported": (24, 24),
    # EUR and JPY for each month December 2024 to December 2026.
    "raw_finance.fx_rates_monthly": (50, 50),
}


def _checksums(connection) -> dict[str, str]:
    """Return an md5 of each table's rows, in a stable order."""
    sums = {}
    for name in ALL_NAMES:
        query = f"select md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from {name} t"
        sums[name] = connection.execute(query).fetchone()[0]
    return sums


def _extracted_text(line: str) -> str:
    return line.split("\t", 2)[1]


@pytest.fixture(scope="module")
def dataset() -> DemoDataset:
    return generate(seed=SEED, scale=SCALE, until=UNTIL)


@pytest.fixture(scope="module")
def loaded(pg_server, dataset):
    """A database holding `dataset`, shared by the read-only tests of this module."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**pg_server.conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    connection = psycopg.connect(**pg_server.conninfo(name), autocommit=True)
    counts = load(connection, dataset)
    try:
        yield connection, counts
    finally:
        connection.close()
        with psycopg.connect(**pg_server.conninfo("postgres"), autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def baseline_checksums(loaded) -> dict[str, str]:
    connection, _ = loaded
    return _checksums(connection)


@pytest.fixture(scope="module")
def earlier_dataset() -> DemoDataset:
    return generate(seed=SEED, scale=SCALE, until=EARLIER_UNTIL)


# --- shape of the data ---------------------------------------------------------------------------


@pytest.mark.parametrize("table", ALL_NAMES)
def test_row_count_in_expected_range(dataset, table):
    low, high = EXPECTED_ROWS[table]
    assert low <= len(dataset.tables[table]) <= high


@pytest.mark.parametrize("table", PRODUCT_TABLES)
def test_legacy_writer_share(loaded, table):
    connection, _ = loaded
    share = connection.execute(f"select avg((writer = 'legacy-sync')::int::numeric) from {table}").fetchone()[
        0
    ]
    assert 0.11 <= share <= 0.13, f"{table}: legacy-sync share {share:.4f}"


@pytest.mark.parametrize("table", AIRBYTE_NAMES)
def test_nothing_extracted_after_until(loaded, table):
    connection, _ = loaded
    latest = connection.execute(f"select max(_airbyte_extracted_at) from {table}").fetchone()[0]
    assert latest <= UNTIL


def test_duplicate_subscription_versions_exist(loaded):
    connection, _ = loaded
    duplicated = connection.execute(
        "select count(*) from (select id, updated from raw_stripe.subscriptions"
        " group by id, updated having count(*) > 1) d"
    ).fetchone()[0]
    assert duplicated > 0


def test_duplicates_differ_only_in_envelope(loaded):
    connection, _ = loaded
    differing = connection.execute(
        """
        select count(*) from (
            select id, updated
            from raw_stripe.subscriptions
            group by id, updated
            having count(*) > 1
               and count(distinct (status, items, discount, current_period_end, canceled_at)::text) > 1
        ) d
        """
    ).fetchone()[0]
    assert differing == 0


def test_app_events_store_utc(loaded):
    connection, _ = loaded
    outside = connection.execute(
        """
        select count(*) from raw_product.events
        where writer = 'app'
          and not (occurred_at at time zone 'UTC'
                   between _airbyte_extracted_at - interval '6 hours'
                       and _airbyte_extracted_at - interval '1 minute')
        """
    ).fetchone()[0]
    assert outside == 0


def test_legacy_events_store_pacific_time(loaded):
    connection, _ = loaded
    outside = connection.execute(
        """
        select count(*) from raw_product.events
        where writer = 'legacy-sync'
          and not (occurred_at at time zone 'America/Los_Angeles'
                   between _airbyte_extracted_at - interval '6 hours'
                       and _airbyte_extracted_at - interval '1 minute')
        """
    ).fetchone()[0]
    assert outside == 0


def test_events_binary_copy_matches_text(loaded, dataset):
    """The binary COPY of events loads the same rows as their text rendering."""
    connection, _ = loaded
    with connection.transaction():
        connection.execute("create temporary table events_text (like raw_product.events) on commit drop")
        with connection.cursor().copy("copy events_text from stdin") as copy:
            copy.write("\n".join(dataset.tables["raw_product.events"].iter_lines()) + "\n")
        query = "select md5(string_agg(t::text, E'\\n' order by t::text)) from {} t"
        binary_sum = connection.execute(query.format("raw_product.events")).fetchone()[0]
        text_sum = connection.execute(query.format("events_text")).fetchone()[0]
    assert binary_sum == text_sum


# --- load ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ALL_NAMES)
def test_load_count_matches_table(loaded, table):
    connection, counts = loaded
    assert counts[table] == connection.execute(f"select count(*) from {table}").fetchone()[0]


def test_load_twice_gives_same_tables(warehouse_db, dataset):
    with warehouse_db.connect(autocommit=True) as connection:
        load(connection, dataset)
        first = _checksums(connection)
        load(connection, dataset)
        assert _checksums(connection) == first


def test_load_rejects_open_transaction(warehouse_db, dataset):
    with warehouse_db.connect() as connection:
        connection.execute("select 1")
        with pytest.raises(LoadError, match="commit or roll back"):
            load(connection, dataset)


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_same_tables(warehouse_db, baseline_checksums):
    with warehouse_db.connect(autocommit=True) as connection:
        load(connection, generate(seed=SEED, scale=SCALE, until=UNTIL))
        assert _checksums(connection) == baseline_checksums


def test_other_seed_changes_every_table(warehouse_db, baseline_checksums):
    with warehouse_db.connect(autocommit=True) as connection:
        load(connection, generate(seed=SEED + 1, scale=SCALE, until=UNTIL))
        other = _checksums(connection)
    unchanged = [name for name in ALL_NAMES if other[name] == baseline_checksums[name]]
    assert unchanged == []


@pytest.mark.parametrize("table", [name for name in AIRBYTE_NAMES if name != "raw_stripe.customers"])
def test_later_until_keeps_earlier_rows(dataset, earlier_dataset, table):
    """Rows extracted by the earlier cut-off are identical in both runs, raw ids included."""
    cut = EARLIER_UNTIL.strftime("%Y-%m-%d %H:%M:%S+00")
    later = Counter(line for line in dataset.tables[table].iter_lines() if _extracted_text(line) <= cut)
    earlier = Counter(earlier_dataset.tables[table].iter_lines())
    assert later == earlier


def test_later_until_keeps_customer_versions(dataset, earlier_dataset):
    """Customers keep their latest version only; a version extracted by the earlier cut-off is unchanged."""
    cut = EARLIER_UNTIL.strftime("%Y-%m-%d %H:%M:%S+00")
    later = {
        line for line in dataset.tables["raw_stripe.customers"].iter_lines() if _extracted_text(line) <= cut
    }
    earlier = set(earlier_dataset.tables["raw_stripe.customers"].iter_lines())
    assert later <= earlier


def test_later_until_keeps_finance_rows(dataset, earlier_dataset):
    later = set(dataset.tables["raw_finance.arr_reported"].iter_lines())
    earlier = set(earlier_dataset.tables["raw_finance.arr_reported"].iter_lines())
    assert earlier < later


def test_later_until_keeps_fx_rows(dataset, earlier_dataset):
    later = set(dataset.tables["raw_finance.fx_rates_monthly"].iter_lines())
    earlier = set(earlier_dataset.tables["raw_finance.fx_rates_monthly"].iter_lines())
    assert earlier < later


# --- finance -------------------------------------------------------------------------------------

# Recomputes ARR for one month from the raw subscription versions alone, following the
# project's MRR definition: the last version of each subscription before the first instant of
# the next month, statuses active and past_due, licensed items only, unit amount times quantity
# over the months in the billing interval, percent off then amount off (never below 0), minor
# units to major units (JPY has none), and the month's rate from the fx table.
INDEPENDENT_ARR_SQL = """
with bounds as (
    select extract(
        epoch from (%(month)s::date + interval '1 month')::timestamp at time zone 'UTC'
    ) as snapshot_at
),
latest as (
    select distinct on (s.id) s.id, s.status, s.currency, s.items, s.discount
    from raw_stripe.subscriptions as s
    cross join bounds as b
    where s.updated < b.snapshot_at
    order by s.id, s.updated desc, s._airbyte_extracted_at desc
),
licensed as (
    select
        l.id,
        l.currency,
        l.discount,
        (item -> 'price' ->> 'unit_amount')::numeric * (item ->> 'quantity')::numeric as amount,
        (item -> 'price' -> 'recurring' ->> 'interval_count')::numeric
        * case item -> 'price' -> 'recurring' ->> 'interval'
            when 'month' then 1 when 'year' then 12 when 'week' then 12 / 52.0 when 'day' then 12 / 365.0
          end as months
    from latest as l
    cross join lateral jsonb_array_elements(l.items -> 'data') as item
    where l.status in ('active', 'past_due')
      and item -> 'price' -> 'recurring' ->> 'usage_type' = 'licensed'
),
per_subscription as (
    select id, currency, discount, sum(amount / months) as gross, min(months) as months
    from licensed
    group by id, currency, discount
),
net as (
    select
        p.currency,
        greatest(
            p.gross * (1 - coalesce((p.discount -> 'coupon' ->> 'percent_off')::numeric, 0) / 100)
            - coalesce((p.discount -> 'coupon' ->> 'amount_off')::numeric, 0) / p.months,
            0
        ) as mrr_minor
    from per_subscription as p
    cross join bounds as b
    where p.discount is null
       or p.discount ->> 'end' is null
       or (p.discount ->> 'end')::numeric > b.snapshot_at
    union all
    select p.currency, p.gross
    from per_subscription as p
    cross join bounds as b
    where (p.discount ->> 'end')::numeric <= b.snapshot_at
)
select 12 * sum(
    n.mrr_minor / case n.currency when 'jpy' then 1 else 100 end
    * case n.currency when 'usd' then 1 else r.rate_to_usd end
)
from net as n
left join raw_finance.fx_rates_monthly as r on r.month = %(month)s::date and r.currency = n.currency
"""


def _latest_closed_month(connection) -> tuple[date, float]:
    return connection.execute(
        "select month, reported_arr_usd from raw_finance.arr_reported order by month desc limit 1"
    ).fetchone()


def test_finance_arr_is_0_3_percent_above_raw(loaded):
    connection, _ = loaded
    month, reported = _latest_closed_month(connection)
    independent = connection.execute(INDEPENDENT_ARR_SQL, {"month": month}).fetchone()[0]
    ratio = float(reported) / float(independent)
    assert abs(ratio - 1.003) < 1e-7, f"{month}: finance {reported}, raw rows {independent}"


def test_true_arr_matches_raw(loaded, dataset):
    connection, _ = loaded
    month, _ = _latest_closed_month(connection)
    independent = connection.execute(INDEPENDENT_ARR_SQL, {"month": month}).fetchone()[0]
    true_arr = next(row.true_arr_usd for row in dataset.finance if row.month == month)
    assert abs(true_arr / float(independent) - 1) < 1e-9


def test_finance_files_written(dataset, tmp_path):
    arr_path, fx_path = dataset.write_finance_files(tmp_path)
    lines = arr_path.read_text().splitlines()
    assert lines[0] == "month,reported_arr_usd,reported_at"
    assert len(lines) == 1 + len(dataset.finance)
    assert fx_path.read_text().splitlines()[0] == "month,currency,rate_to_usd"


# --- arguments -----------------------------------------------------------------------------------


def test_generate_rejects_naive_until():
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(scale=SCALE, until=datetime(2025, 3, 1))


def test_generate_rejects_mid_month_start():
    with pytest.raises(ValueError, match="first day"):
        generate(scale=SCALE, history_start=date(2024, 12, 2), until=UNTIL)
