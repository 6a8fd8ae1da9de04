"""Seeded random generators, random identifiers and calendar helpers.

Every random draw in the generator comes from a generator returned by `rng_for`, keyed by the
user's seed, a stream name and the simulated month or day. A month's draws therefore never
depend on how many months are simulated after it, which keeps a shorter run a prefix of a
longer one.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

import numpy as np

# Stream numbers are part of the seed, so changing one changes the data set.
_STREAMS = {
    "initial": 1,
    "billing": 2,
    "product": 3,
    "events": 4,
    "envelope": 5,
    "segment": 6,
    "zendesk": 7,
    "aws": 8,
    "aws_sync": 9,
    "fx": 10,
    "finance": 11,
    "catalog": 12,
}

_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

DAY = 86_400


def rng_for(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """Return the generator for one stream and key (a month or day number)."""
    return np.random.default_rng([seed, _STREAMS[stream], *keys])


class PooledGenerator:
    """A numpy Generator whose scalar draws come from pre-drawn blocks.

    numpy's per-call overhead dominates when the simulation draws one number at a time, so
    scalar `random`, `integers` and `uniform` take values from blocks of 1,024 uniforms, and
    `token` from blocks of 256 ids. Calls with `size` go to the wrapped generator. The
    sequence of values is still fixed by the seed and the order of calls.
    """

    _BLOCK = 1024

    def __init__(self, generator: np.random.Generator):
        self.generator = generator
        self._uniforms: list[float] = []
        self._tokens: dict[int, list[str]] = {}

    def __getattr__(self, name: str):
        return getattr(self.generator, name)

    def random(self, size=None):
        if size is not None:
            return self.generator.random(size)
        if not self._uniforms:
            self._uniforms = self.generator.random(self._BLOCK).tolist()
            self._uniforms.reverse()
        return self._uniforms.pop()

    def integers(self, low, high=None, size=None):
        """Return an int in [low, high), or in [0, low) when high is omitted."""
        if size is not None:
            return self.generator.integers(low, high, size=size)
        if high is None:
            low, high = 0, low
        return low + int(self.random() * (high - low))

    def uniform(self, low=0.0, high=1.0, size=None):
        if size is not None:
            return self.generator.uniform(low, high, size)
        return low + self.random() * (high - low)

    def token(self, length: int) -> str:
        """Return a random base62 string of `length` characters."""
        pool = self._tokens.get(length)
        if not pool:
            pool = random_tokens(self.generator, 256, length)
            pool.reverse()
            self._tokens[length] = pool
        return pool.pop()


def random_tokens(rng: np.random.Generator, count: int, length: int) -> list[str]:
    """Return `count` random base62 strings of `length` characters (Stripe-like id bodies)."""
    if count == 0:
        return []
    codes = _BASE62[rng.integers(0, 62, size=(count, length))]
    return np.ascontiguousarray(codes).view(f"S{length}").ravel().astype(str).tolist()


def random_uuid_bits(rng: np.random.Generator, count: int) -> np.ndarray:
    """Return `count` random 128-bit values as a (count, 16) uint8 array."""
    return rng.integers(0, 256, size=(count, 16), dtype=np.uint8)


def format_uuids(bits: np.ndarray) -> np.ndarray:
    """Format (n, 16) random bytes as version-4 UUID strings; returns a str array."""
    return uuid_text_bytes(bits).view("S36").ravel().astype(str)


def uuid_text_bytes(bits: np.ndarray) -> np.ndarray:
    """Format (n, 16) random bytes as version-4 UUIDs in ASCII; returns an (n, 36) uint8 array."""
    count = len(bits)
    data = bits.copy()
    data[:, 6] = (data[:, 6] & 0x0F) | 0x40
    data[:, 8] = (data[:, 8] & 0x3F) | 0x80
    nibbles = np.empty((count, 32), dtype=np.uint8)
    nibbles[:, 0::2] = data >> 4
    nibbles[:, 1::2] = data & 0x0F
    digits = _HEX[nibbles]
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, 0:8] = digits[:, 0:8]
    text[:, 9:13] = digits[:, 8:12]
    text[:, 14:18] = digits[:, 12:16]
    text[:, 19:23] = digits[:, 16:20]
    text[:, 24:36] = digits[:, 20:32]
    return text


def epoch(moment: datetime | date) -> int:
    """Return unix seconds; a date means its midnight UTC, a naive datetime is rejected."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware datetime")
    return calendar.timegm(moment.utctimetuple())


def month_key(year: int, month: int) -> int:
    """Return a month number that orders months and seeds their generators."""
    return year * 12 + month - 1


def month_start(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0))


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(moment: int, months: int) -> int:
    """Shift unix seconds by whole calendar months, clamping the day to the month's length.

    Stripe computes period ends from the billing anchor the same way: an anchor on the 31st
    bills on the last day of shorter months and on the 31st again when the month has one.
    """
    days, second_of_day = divmod(moment, DAY)
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    year, month_index = divmod(day.month - 1 + months, 12)
    year += day.year
    length = _MONTH_DAYS[month_index] + (month_index == 1 and calendar.isleap(year))
    shifted = date(year, month_index + 1, min(day.day, length))
    return (shifted.toordinal() - _EPOCH_ORDINAL) * DAY + second_of_day


def day_string(moment: int) -> str:
    """Return the UTC date of unix seconds as YYYY-MM-DD."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")
