"""Epoch seconds, ISO-8601 text and ``builtin_interfaces/Time``: one set of conversions.

No rclpy import: the Time conversions take and return any object with ``sec`` and
``nanosec`` (the message class is passed in where one is built).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable, TypeVar

T = TypeVar('T')
MAX_TIME_SEC = 2**31 - 1
"""builtin_interfaces/Time.sec is an int32: the latest representable second (2038)."""


def iso_from_epoch(seconds: float) -> str:
    """Return ISO-8601 UTC with millisecond precision (``...Z``) for epoch seconds."""
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return stamp.isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def epoch_from_iso(text: str) -> float:
    """Parse ISO-8601 (a naive time is UTC); raise ValueError when malformed."""
    stamp = dt.datetime.fromisoformat(text.replace('Z', '+00:00'))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def split_time(seconds: float | None) -> tuple[int, int]:
    """Return (sec, nanosec) of epoch seconds; (0, 0) for None, anything not finite,
    before 1970 or past what an int32 second holds."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0 \
            or seconds >= MAX_TIME_SEC:
        return 0, 0
    sec, nanosec = divmod(int(round(seconds * 1e9)), 1_000_000_000)
    return sec, nanosec


def to_time_msg(seconds: float | None, factory: Callable[..., T]) -> T:
    """Return ``factory(sec=, nanosec=)`` for epoch seconds (see :func:`split_time`)."""
    sec, nanosec = split_time(seconds)
    return factory(sec=sec, nanosec=nanosec) if sec or nanosec else factory()


def from_time_msg(msg: Any) -> float | None:
    """Return epoch seconds of a Time, or None for a zero time."""
    if msg.sec == 0 and msg.nanosec == 0:
        return None
    return float(msg.sec + msg.nanosec * 1e-9)
