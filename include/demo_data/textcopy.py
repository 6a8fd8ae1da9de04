"""Rendering of values into PostgreSQL's COPY text format (tab-separated, \\N for NULL).

Timestamps are rendered with lookup tables: a data set spans a few hundred distinct days, and
a day has 86,400 distinct times, so each row costs two array lookups and one concatenation
instead of a datetime conversion.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

NULL = "\\N"


def escape(text: str) -> str:
    """Escape the characters that COPY's text format treats specially (backslash, tab, CR, LF)."""
    if "\\" not in text and text.isprintable():
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _render_scalar(value: object) -> str:
    if value is None:
        return NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return escape(value)
    return str(value)


@lru_cache(maxsize=1)
def _times_of_day() -> np.ndarray:
    return np.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], dtype=object)


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    return str(np.datetime64(day, "D"))


def epoch_text(seconds: int, suffix: str = "+00") -> str:
    """Render one unix-seconds value like `render_epoch`."""
    day, second_of_day = divmod(seconds, 86_400)
    return f"{_day_text(day)} {_times_of_day()[second_of_day]}{suffix}"


def render_epoch(seconds: np.ndarray, suffix: str) -> np.ndarray:
    """Render unix seconds as 'YYYY-MM-DD HH:MM:SS' plus `suffix` ('+00' for timestamptz)."""
    seconds = np.asarray(seconds, dtype=np.int64)
    if len(seconds) == 0:
        return np.array([], dtype=object)
    days, second_of_day = np.divmod(seconds, 86_400)
    unique_days, day_index = np.unique(days, return_inverse=True)
    day_text = np.datetime_as_string(unique_days.astype("datetime64[D]")).astype(object)
    return day_text[day_index] + " " + _times_of_day()[second_of_day] + suffix


def render_dates(days: np.ndarray) -> np.ndarray:
    """Render days since 1970-01-01 as 'YYYY-MM-DD'."""
    unique_days, day_index = np.unique(np.asarray(days, dtype=np.int64), return_inverse=True)
    return np.datetime_as_string(unique_days.astype("datetime64[D]")).astype(object)[day_index]


def render_ints(values: np.ndarray) -> list[str]:
    """Render an int64 array; repeated values (ids) are formatted once."""
    unique_values, index = np.unique(values, return_inverse=True)
    if len(unique_values) * 4 < len(values):
        return np.array(list(map(str, unique_values.tolist())), dtype=object)[index].tolist()
    return list(map(str, values.tolist()))


def render_column(values: list | np.ndarray, kind: str) -> list[str]:
    """Render one column of Python values (None for NULL) or a numpy array of one `kind`."""
    if kind in ("tstz", "ts"):
        suffix = "+00" if kind == "tstz" else ""
        if None not in values:
            return render_epoch(np.array(values, dtype=np.int64), suffix).tolist()
        array = np.asarray(values, dtype=object)
        present = np.array([value is not None for value in array], dtype=bool)
        rendered = np.full(len(array), NULL, dtype=object)
        if present.any():
            rendered[present] = render_epoch(array[present].astype(np.int64), suffix)
        return rendered.tolist()
    if isinstance(values, np.ndarray) and values.dtype != object:
        if values.dtype == bool:
            return np.where(values, "t", "f").tolist()
        if np.issubdtype(values.dtype, np.integer):
            return render_ints(values)
        return list(map(repr, values.tolist()))
    if kind in ("text", "json", "date", "numeric"):
        return [
            NULL
            if value is None
            else value
            if isinstance(value, str) and "\\" not in value and value.isprintable()
            else _render_scalar(value)
            for value in values
        ]
    if kind == "bool":
        return [_render_scalar(value) for value in values]
    if kind == "int":
        return [NULL if value is None else str(value) for value in values]
    return [_render_scalar(value) for value in values]


def join_rows(columns: list[list[str]]) -> list[str]:
    """Join rendered columns into COPY text lines (without the trailing newline)."""
    return list(map("\t".join, zip(*columns, strict=True)))
