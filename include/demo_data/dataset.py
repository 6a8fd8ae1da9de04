"""The generated data set: one table object per raw table, plus the finance files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np

from include.demo_data.envelope import APP_WRITER, GENERATION_ID, LEGACY_WRITER, Batch, render_meta, sync_ids
from include.demo_data.product import EVENT_NAMES, PROPERTY_TEXTS
from include.demo_data.schema import TableSpec
from include.demo_data.seeding import format_uuids, uuid_text_bytes
from include.demo_data.textcopy import join_rows, render_epoch, render_ints

COPY_CHUNK_BYTES = 8 << 20
EVENT_ROWS_PER_CHUNK = 100_000


class Table:
    """Rows of one raw table, in COPY text format unless `copy_format` is "binary"."""

    spec: TableSpec
    copy_format = "text"

    @property
    def name(self) -> str:
        return self.spec.qualified_name

    def __len__(self) -> int:
        raise NotImplementedError

    def iter_lines(self) -> Iterator[str]:
        """Yield one COPY text line per row, without the newline."""
        raise NotImplementedError

    def copy_chunks(self, max_bytes: int = COPY_CHUNK_BYTES) -> Iterator[bytes]:
        """Yield the rows as UTF-8 COPY text in chunks of about `max_bytes`, ending on a row boundary."""
        pending: list[str] = []
        size = 0
        for line in self.iter_lines():
            pending.append(line)
            size += len(line) + 1
            if size >= max_bytes:
                yield ("\n".join(pending) + "\n").encode()
                pending, size = [], 0
        if pending:
            yield ("\n".join(pending) + "\n").encode()

    def to_frame(self):
        """Return the rows as a pandas DataFrame of strings (NULL as None), for inspection."""
        import pandas as pd

        text = "\n".join(self.iter_lines())
        frame = pd.read_csv(
            io.StringIO(text),
            sep="\t",
            header=None,
            names=list(self.spec.column_names),
            dtype=str,
            na_values=["\\N"],
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
        )
        return frame.astype(object).where(frame.notna(), None)


class LineTable(Table):
    """A table whose rows were rendered when their month was sealed."""

    def __init__(self, spec: TableSpec, lines: list[str]):
        self.spec = spec
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)

    def iter_lines(self) -> Iterator[str]:
        return iter(self.lines)


class BatchTable(Table):
    """A table kept as sealed monthly batches and rendered while it is read."""

    def __init__(self, spec: TableSpec, batches: list[Batch]):
        self.spec = spec
        self.batches = batches

    def __len__(self) -> int:
        return sum(len(batch) for batch in self.batches)

    def iter_lines(self) -> Iterator[str]:
        for batch in self.batches:
            yield from batch.render(self.spec)

    def copy_chunks(self, max_bytes: int = COPY_CHUNK_BYTES) -> Iterator[bytes]:
        # One chunk per monthly batch: a few MB each, joined without a per-line Python loop.
        for batch in self.batches:
            lines = batch.render(self.spec)
            if lines:
                lines.append("")
                yield "\n".join(lines).encode()


class EventTable(Table):
    """Product events kept as numpy columns and rendered in slices while loading.

    `copy_chunks` writes COPY's binary format: every field is fixed-width per (event, payload,
    writer) combination, so each group of rows is one numpy structured array turned into bytes,
    with no per-row Python work. `iter_lines` renders the same rows as text for inspection.
    """

    copy_format = "binary"

    def __init__(self, spec: TableSpec, columns: dict[str, np.ndarray]):
        self.spec = spec
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns["id"])

    def iter_lines(self) -> Iterator[str]:
        for start in range(0, len(self), EVENT_ROWS_PER_CHUNK):
            yield from self._render(slice(start, start + EVENT_ROWS_PER_CHUNK))

    def copy_chunks(self, max_bytes: int = COPY_CHUNK_BYTES) -> Iterator[bytes]:
        yield BINARY_SIGNATURE
        for start in range(0, len(self), EVENT_ROWS_PER_CHUNK):
            yield self._render_binary(slice(start, start + EVENT_ROWS_PER_CHUNK))
        yield BINARY_TRAILER

    def _render_binary(self, rows: slice) -> bytes:
        c = {key: value[rows] for key, value in self.columns.items()}
        sync = sync_ids(c["extracted"], self.spec.source)
        meta_digits = 1 + sum((sync >= 10**power).astype(np.int64) for power in range(1, 19))
        groups = c["property_code"].astype(np.int64) * 2 + c["legacy"].astype(np.int64)
        group_key = groups * 100 + meta_digits
        parts = []
        for key in np.unique(group_key).tolist():
            members = np.flatnonzero(group_key == key)
            property_code, legacy, digits = key // 200, key // 100 % 2, key % 100
            parts.append(
                _binary_rows(
                    raw_id=uuid_text_bytes(c["raw_bits"][members]),
                    extracted=c["extracted"][members],
                    sync=sync[members],
                    sync_digits=digits,
                    ids=(c["id"][members], c["workspace_id"][members], c["user_id"][members]),
                    name=EVENT_NAMES[c["name_code"][members[0]]].encode(),
                    properties=PROPERTY_TEXTS[property_code].encode(),
                    writer=(LEGACY_WRITER if legacy else APP_WRITER).encode(),
                    occurred=c["occurred_local"][members],
                )
            )
        return b"".join(parts)

    def _render(self, rows: slice) -> list[str]:
        c = {key: value[rows] for key, value in self.columns.items()}
        names = np.array(EVENT_NAMES, dtype=object)
        properties = np.array(PROPERTY_TEXTS, dtype=object)
        writers = np.array([APP_WRITER, LEGACY_WRITER], dtype=object)
        count = len(c["id"])
        return join_rows(
            [
                format_uuids(c["raw_bits"]).tolist(),
                render_epoch(c["extracted"], "+00").tolist(),
                render_meta(sync_ids(c["extracted"], self.spec.source)).tolist(),
                [str(GENERATION_ID)] * count,
                render_ints(c["id"]),
                render_ints(c["workspace_id"]),
                render_ints(c["user_id"]),
                names[c["name_code"]].tolist(),
                properties[c["property_code"]].tolist(),
                writers[c["legacy"].astype(np.int64)].tolist(),
                render_epoch(c["occurred_local"], "").tolist(),
            ]
        )


BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
BINARY_TRAILER = b"\xff\xff"
# PostgreSQL's binary timestamps count microseconds from 2000-01-01 00:00:00.
POSTGRES_EPOCH = 946_684_800
JSONB_VERSION = b"\x01"


def _binary_rows(raw_id, extracted, sync, sync_digits, ids, name, properties, writer, occurred) -> bytes:
    """Encode event rows whose variable-length fields all have the same lengths as binary COPY tuples."""
    meta_prefix = JSONB_VERSION + b'{"sync_id": '
    meta_suffix = b', "changes": []}'
    meta_length = len(meta_prefix) + sync_digits + len(meta_suffix)
    jsonb_properties = JSONB_VERSION + properties

    # Each tuple is a field count, then a 4-byte length before every field's bytes.
    fields = [("count", ">i2")]
    layout = [
        ("raw_id", ("u1", (36,))),
        ("extracted", ">i8"),
        ("meta", ("u1", (meta_length,))),
        ("generation", ">i8"),
        ("id", ">i8"),
        ("workspace_id", ">i8"),
        ("user_id", ">i8"),
        ("name", f"S{len(name)}"),
        ("properties", f"S{len(jsonb_properties)}"),
        ("writer", f"S{len(writer)}"),
        ("occurred", ">i8"),
    ]
    for field_name, field_type in layout:
        fields.append((field_name + "_length", ">i4"))
        fields.append((field_name, field_type))

    rows = np.empty(len(extracted), dtype=np.dtype(fields))
    rows["count"] = len(layout)
    for field_name, _ in layout:
        rows[field_name + "_length"] = rows.dtype[field_name].itemsize
    rows["raw_id"] = raw_id
    rows["extracted"] = (extracted - POSTGRES_EPOCH) * 1_000_000

    meta = np.empty((len(extracted), meta_length), dtype=np.uint8)
    meta[:, : len(meta_prefix)] = np.frombuffer(meta_prefix, dtype=np.uint8)
    powers = 10 ** np.arange(sync_digits - 1, -1, -1, dtype=np.int64)
    meta[:, len(meta_prefix) : len(meta_prefix) + sync_digits] = sync[:, None] // powers % 10 + ord("0")
    meta[:, len(meta_prefix) + sync_digits :] = np.frombuffer(meta_suffix, dtype=np.uint8)
    rows["meta"] = meta

    rows["generation"] = GENERATION_ID
    rows["id"], rows["workspace_id"], rows["user_id"] = ids
    rows["name"] = name
    rows["properties"] = jsonb_properties
    rows["writer"] = writer
    rows["occurred"] = (occurred - POSTGRES_EPOCH) * 1_000_000
    return rows.tobytes()


@dataclass(frozen=True)
class FinanceMonth:
    """One closed month as finance reports it, next to the generator's true numbers."""

    month: date
    true_mrr_usd: float
    true_arr_usd: float
    reported_arr_usd: float
    reported_at: datetime


@dataclass(frozen=True)
class FxRate:
    month: date
    currency: str
    rate_to_usd: float


@dataclass
class DemoDataset:
    """A generated company: raw tables keyed by "schema.table", finance numbers and the true MRR."""

    seed: int
    scale: float
    history_start: date
    until: datetime
    tables: dict[str, Table]
    finance: list[FinanceMonth]
    fx_rates: list[FxRate]
    # True MRR in USD at the end of every simulated month, closed or not (keyed by month start).
    mrr_usd_by_month: dict[date, float] = field(default_factory=dict)
    paying_customers_by_month: dict[date, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def row_counts(self) -> dict[str, int]:
        return {name: len(table) for name, table in self.tables.items()}

    def write_finance_files(self, folder: str | Path) -> tuple[Path, Path]:
        """Write finance_arr.csv and fx_rates.csv into `folder` and return their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arr_path = folder / "finance_arr.csv"
        with arr_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["month", "reported_arr_usd", "reported_at"])
            for row in self.finance:
                writer.writerow(
                    [row.month.isoformat(), f"{row.reported_arr_usd:.2f}", row.reported_at.isoformat()]
                )
        fx_path = folder / "fx_rates.csv"
        with fx_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["month", "currency", "rate_to_usd"])
            for rate in self.fx_rates:
                writer.writerow([rate.month.isoformat(), rate.currency, f"{rate.rate_to_usd:.6f}"])
        return arr_path, fx_path
