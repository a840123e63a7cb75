"""Byte-level checks of whole text columns, compiled by numba: RFC 3339 instants parsed to epoch
microseconds, client words, and how deeply the lines of a JSON text nest.

Arrow's regular expressions and its timestamp cast took 0.5 s of the 1 s that validating a
million connections cost (two instants and a client each); these passes read each string's bytes
once. Each is strict: a string it does not accept goes to the per-row validator, which accepts or
rejects it with a reason, so the fast path still accepts only what records.py accepts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

US_PER_DAY = 86_400_000_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _buffers(a: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (one more than the strings) and the bytes of a string array."""
    _validity, offsets, data = a.buffers()
    width = np.int64 if pa.types.is_large_string(a.type) else np.int32
    off = np.frombuffer(offsets, dtype=width)[a.offset : a.offset + len(a) + 1]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return off, raw


def instants(a: pa.Array, first: int = INT64_MIN, last: int = INT64_MAX) -> tuple[pa.Array, np.ndarray]:
    """A string column as epoch microseconds (null where the text is null or not accepted) and
    the mask of the non-null texts that were not accepted; an instant out of ``first .. last`` is
    not accepted."""
    off, raw = _buffers(a)
    us, ok = parse_rfc3339(off, raw, len(a), first, last)
    valid = a.is_valid().to_numpy(zero_copy_only=False)
    return pa.array(us, pa.int64(), mask=~(ok & valid)), valid & ~ok


def client_words(a: pa.Array) -> np.ndarray:
    """Whether each text is a client word (``^[a-z][a-z0-9_-]{0,31}$``); False for a null."""
    off, raw = _buffers(a)
    return np.asarray(client_word(off, raw, len(a)) & a.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)


@njit(cache=True, nogil=True)
def _two(raw: np.ndarray, i: int) -> int:
    """Two decimal digits at ``i`` as a number, or -1."""
    a, b = int(raw[i]) - 48, int(raw[i + 1]) - 48
    if a < 0 or a > 9 or b < 0 or b > 9:
        return -1
    return a * 10 + b


@njit(cache=True, nogil=True)
def parse_rfc3339(off: np.ndarray, raw: np.ndarray, n: int, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)`` of the years 1000..9998 with a real date,
    hours < 24, minutes and seconds < 60 and an offset under a day: its epoch microseconds, when
    they lie in ``first .. last``."""
    us = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        s, e = off[i], off[i + 1]
        if e - s < 20 or e - s > 32:
            continue
        if raw[s + 4] != 45 or raw[s + 7] != 45 or raw[s + 10] != 84 or raw[s + 13] != 58 or raw[s + 16] != 58:
            continue  # '-', '-', 'T', ':', ':'
        hi, lo = _two(raw, s), _two(raw, s + 2)
        month, day = _two(raw, s + 5), _two(raw, s + 8)
        hour, minute, second = _two(raw, s + 11), _two(raw, s + 14), _two(raw, s + 17)
        if hi < 10 or lo < 0 or hi * 100 + lo > 9998 or month < 1 or month > 12 or day < 1:
            continue
        if hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59:
            continue
        year = hi * 100 + lo
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        mdays = 29 if month == 2 and leap else (28 if month == 2 else (30 if month in (4, 6, 9, 11) else 31))
        if day > mdays:
            continue
        p = s + 19
        frac = 0
        if raw[p] == 46:  # '.'
            p += 1
            digits = 0
            while p < e and digits < 7 and 48 <= raw[p] <= 57:
                frac = frac * 10 + (int(raw[p]) - 48)
                p += 1
                digits += 1
            if digits == 0 or digits > 6:
                continue
            for _ in range(6 - digits):
                frac *= 10
        shift = 0
        if p == e - 1 and raw[p] == 90:  # 'Z'
            shift = 0
        elif p == e - 6 and (raw[p] == 43 or raw[p] == 45) and raw[p + 3] == 58:  # '+' / '-', ':'
            oh, om = _two(raw, p + 1), _two(raw, p + 4)
            if oh < 0 or oh > 23 or om < 0 or om > 59:
                continue
            shift = (oh * 60 + om) * 60_000_000
            if raw[p] == 45:
                shift = -shift
        else:
            continue
        # Days since 1970-01-01 of the civil date (H. Hinnant's days_from_civil).
        y = year - 1 if month <= 2 else year
        era = y // 400
        yoe = y - era * 400
        doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
        days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
        at = days * US_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000_000 + frac - shift
        if first <= at <= last:
            us[i] = at
            ok[i] = True
    return us, ok


@njit(cache=True, nogil=True)
def client_word(off: np.ndarray, raw: np.ndarray, n: int) -> np.ndarray:
    """Per string: a lower-case ASCII letter, then up to 31 of ``a-z 0-9 _ -``."""
    ok = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        s, e = off[i], off[i + 1]
        if e - s < 1 or e - s > 32 or not 97 <= raw[s] <= 122:
            continue
        good = True
        for p in range(s + 1, e):
            c = raw[p]
            if not (97 <= c <= 122 or 48 <= c <= 57 or c == 95 or c == 45):
                good = False
                break
        ok[i] = good
    return ok


def deeper_than(text: bytes, limit: int) -> bool:
    """Whether any line of a JSON text nests objects and arrays more than ``limit`` levels deep
    (brackets inside strings do not count)."""
    return bool(_deeper_than(np.frombuffer(text, dtype=np.uint8), limit))


@njit(cache=True, nogil=True)
def _deeper_than(raw: np.ndarray, limit: int) -> bool:
    depth = 0
    in_string = False
    escaped = False
    for c in raw:
        if c == 10:  # a newline ends a line (it cannot stand inside a JSON string)
            depth = 0
            in_string = escaped = False
        elif in_string:
            if escaped:
                escaped = False
            elif c == 92:  # backslash
                escaped = True
            elif c == 34:  # '"'
                in_string = False
        elif c == 34:
            in_string = True
        elif c == 123 or c == 91:  # '{', '['
            depth += 1
            if depth > limit:
                return True
        elif c == 125 or c == 93:  # '}', ']'
            depth -= 1
    return False


def warm_up() -> None:
    """Load the compiled passes ahead of the first batch (a server does it at start)."""
    none = pa.array([], pa.string())
    instants(none)
    client_words(none)
    deeper_than(b"", 1)
