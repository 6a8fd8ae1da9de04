"""Airbyte's envelope around source rows, and the per-table store of finished rows.

Source rows are collected per table during a simulated month, each with its cursor time (the
source's `updated` or equivalent). When the month ends, `RowBuffer.seal` adds what Airbyte's
PostgreSQL destination would add: a random `_airbyte_raw_id`, `_airbyte_extracted_at` a little
after the cursor time, `_airbyte_meta` with that day's sync id, and `_airbyte_generation_id`.
All draws come from a generator keyed by (seed, table, month), so a month's rows do not depend
on later months.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from include.demo_data.schema import AIRBYTE_COLUMNS, ALL_TABLES, SOURCE_NUMBERS, TableSpec
from include.demo_data.seeding import DAY, format_uuids, random_uuid_bits, rng_for
from include.demo_data.textcopy import join_rows, render_column, render_epoch

# Airbyte lands a record between 1 minute and 6 hours after the source changed it.
MIN_LAG_SECONDS = 60
MAX_LAG_SECONDS = 6 * 3600
GENERATION_ID = 0
LEGACY_WRITER = "legacy-sync"
APP_WRITER = "app"
PACIFIC = "America/Los_Angeles"

_TABLE_NUMBERS = {spec.qualified_name: number for number, spec in enumerate(ALL_TABLES, start=1)}


def sync_ids(extracted: np.ndarray, source: str) -> np.ndarray:
    """Return one sync id per source and UTC day of extraction."""
    return (np.asarray(extracted, dtype=np.int64) // DAY) * 10 + SOURCE_NUMBERS[source]


def render_meta(sync: np.ndarray) -> np.ndarray:
    unique_ids, index = np.unique(sync, return_inverse=True)
    texts = np.array(
        [f'{{"sync_id": {value}, "changes": []}}' for value in unique_ids.tolist()], dtype=object
    )
    return texts[index]


def pacific_wall_clock(seconds: np.ndarray) -> np.ndarray:
    """Convert UTC unix seconds to America/Los_Angeles wall-clock time, as naive unix seconds."""
    import pandas as pd

    seconds = np.asarray(seconds, dtype=np.int64)
    if len(seconds) == 0:
        return seconds
    local = pd.to_datetime(seconds, unit="s", utc=True).tz_convert(PACIFIC).tz_localize(None)
    return local.to_numpy().astype("datetime64[s]").astype(np.int64)


def legacy_counts(rows_before: int, rows_now: int, share: float) -> int:
    """Return how many of the rows numbered [rows_before, rows_now) get the legacy writer.

    Rounding the running total (not each batch) keeps the share within one row of `share`
    over every prefix of months, at any scale.
    """
    return int(np.floor(share * rows_now + 0.5) - np.floor(share * rows_before + 0.5))


@dataclass
class Batch:
    """Rows of one table from one simulated month, in the Airbyte envelope but not yet rendered.

    Each row contains the source columns as Python values, or as one string already in COPY
    text. `raw_bits` and `extracted` are the random part of `_airbyte_raw_id` and
    `_airbyte_extracted_at` (unix seconds) of each row.
    """

    rows: list[tuple] | list[str]  # Python values, or source columns already in COPY text
    raw_bits: np.ndarray
    extracted: np.ndarray
    cursors: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: np.ndarray) -> Batch:
        """Return a batch with only the given row positions, in that order."""
        return Batch(
            rows=[self.rows[i] for i in positions.tolist()],
            raw_bits=self.raw_bits[positions],
            extracted=self.extracted[positions],
            cursors=self.cursors[positions],
        )

    def render(self, spec: TableSpec) -> list[str]:
        """Render the batch as COPY text lines of `spec` (Airbyte columns first)."""
        source_columns = spec.columns[len(AIRBYTE_COLUMNS) :]
        if self.rows and isinstance(self.rows[0], str):
            rendered = [self.rows]
        else:
            columns = list(zip(*self.rows, strict=True)) if self.rows else [() for _ in source_columns]
            rendered = [
                render_column(column, spec_column.kind)
                for column, spec_column in zip(columns, source_columns, strict=True)
            ]
        envelope = [
            format_uuids(self.raw_bits).tolist(),
            render_epoch(self.extracted, "+00").tolist(),
            render_meta(sync_ids(self.extracted, spec.source)).tolist(),
            [str(GENERATION_ID)] * len(self),
        ]
        return join_rows(envelope + rendered)


class RowBuffer:
    """Source rows of one table collected during one simulated month, and the sealed batches."""

    def __init__(self, spec: TableSpec, seed: int, duplicate_share: float = 0.0, legacy_share: float = 0.0):
        self.spec = spec
        self.seed = seed
        self.duplicate_share = duplicate_share
        self.legacy_share = legacy_share
        self.legacy_rows_seen = 0
        self.batches: list[Batch] = []
        self._source_columns = spec.columns[len(AIRBYTE_COLUMNS) :]
        self._reset()

    def _reset(self) -> None:
        self.rows: list[tuple] = []
        self.cursors: list[int] = []
        self.explicit_extracted: list[int] = []

    def add(self, row: tuple, cursor: int, extracted: int = -1) -> None:
        """Queue one source row; `extracted` overrides the random extraction lag when >= 0."""
        self.rows.append(row)
        self.cursors.append(cursor)
        self.explicit_extracted.append(extracted)

    def add_many(self, rows: list[tuple], cursors: list[int]) -> None:
        self.rows.extend(rows)
        self.cursors.extend(cursors)
        self.explicit_extracted.extend([-1] * len(rows))

    def seal(self, month_key: int) -> None:
        """Wrap the month's rows in the Airbyte envelope and store them as one batch."""
        rows = self.rows
        count = len(rows)
        rng = rng_for(self.seed, "envelope", _TABLE_NUMBERS[self.spec.qualified_name], month_key)
        lags = rng.integers(MIN_LAG_SECONDS, MAX_LAG_SECONDS + 1, size=count)
        bits = random_uuid_bits(rng, count)
        cursors = np.asarray(self.cursors, dtype=np.int64)
        explicit = np.asarray(self.explicit_extracted, dtype=np.int64)
        extracted = np.where(explicit >= 0, explicit, cursors + lags)

        if self.legacy_share:
            self._assign_legacy_writer(rng, rows)

        if self.duplicate_share and count:
            # An at-least-once sync delivers some records twice: same record, new raw id,
            # extracted by a later sync.
            again = np.flatnonzero(rng.random(count) < self.duplicate_share)
            later = rng.integers(10 * 60, DAY, size=len(again))
            rows = rows + [rows[i] for i in again.tolist()]
            extracted = np.concatenate([extracted, extracted[again] + later])
            bits = np.concatenate([bits, random_uuid_bits(rng, len(again))])
            cursors = np.concatenate([cursors, cursors[again]])

        self.batches.append(Batch(rows, bits, extracted, cursors))
        self._reset()

    def _assign_legacy_writer(self, rng: np.random.Generator, rows: list[tuple]) -> None:
        """Mark a stratified share of rows as written by the legacy sync, in Pacific wall-clock time.

        Rows arrive with writer 'app' and UTC timestamps, and the chosen rows are rewritten in place.
        """
        count = len(rows)
        legacy = legacy_counts(self.legacy_rows_seen, self.legacy_rows_seen + count, self.legacy_share)
        self.legacy_rows_seen += count
        chosen = np.sort(rng.permutation(count)[:legacy]).tolist()
        if not chosen:
            return
        writer_position = self.spec.index("writer") - len(AIRBYTE_COLUMNS)
        ts_positions = [i for i, column in enumerate(self._source_columns) if column.kind == "ts"]
        converted = {
            position: pacific_wall_clock(
                np.array([rows[i][position] for i in chosen], dtype=np.int64)
            ).tolist()
            for position in ts_positions
        }
        for k, i in enumerate(chosen):
            values = list(rows[i])
            values[writer_position] = LEGACY_WRITER
            for position in ts_positions:
                values[position] = converted[position][k]
            rows[i] = tuple(values)
