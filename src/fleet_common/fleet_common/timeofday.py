"""Times of day, daily shifts and fixed UTC offsets: one reading for every config file.

Workflows (rule conditions, on-call schedules) and SLOs (operating hours) both describe the
local day the same way, with the same forms accepted and the same error text:

* **UTC offset** (:func:`parse_utc_offset`): hours east of UTC as a number (``1``, ``-5.5``)
  or a quoted string ``'+HH:MM'`` / ``'-HH:MM'`` (``'+01:00'``, ``'-05:30'``); ``'UTC'`` and
  ``'Z'`` mean 0. Within -14:00..+14:00 and a whole number of minutes. Fixed: there is no
  daylight saving, change it by hand. Local time = UTC + offset.
* **Shift** (:class:`Shift`): a daily window ``'HH:MM-HH:MM'`` in local time, start included,
  end excluded; ``24:00`` may end a shift; a shift whose end is before its start crosses
  midnight (``'22:00-06:00'``); one that starts and ends at the same time is rejected (write
  ``'00:00-24:00'`` for the whole day).
* **Operating hours** (:class:`OperatingHours`): shifts plus an offset, answering which parts
  of a UTC interval fall inside them.

Parse errors are ``ValueError`` whose text names the value; loaders wrap them in a
:class:`fleet_common.config.ConfigError` at the key they read. Times are epoch seconds and are
always passed in: nothing here reads a clock. Pure Python, no rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import re
from typing import Iterable

__all__ = [
    'MAX_UTC_OFFSET_S', 'MINUTES_PER_DAY', 'OperatingHours', 'SECONDS_PER_DAY', 'Shift',
    'UTC_OFFSET_FORMS', 'format_utc_offset', 'parse_utc_offset', 'uncovered',
]

SECONDS_PER_DAY = 86400.0
"""Seconds in a (local) day: no leap seconds, no daylight-saving days."""
MINUTES_PER_DAY = 1440
"""Minutes in a day; a shift's minutes run from 0 to this (``24:00``)."""
MAX_UTC_OFFSET_S = 14 * 3600
"""The largest UTC offset accepted either way (UTC+14:00 / UTC-14:00), in seconds."""
UTC_OFFSET_FORMS = "hours as a number (1, -5.5) or a quoted '+HH:MM' / '-HH:MM'"
"""How a UTC offset may be written, as error messages say it."""

_OFFSET = re.compile(r'^([+-])(\d{2}):(\d{2})$')
_TIME = re.compile(r'^(\d{2}):(\d{2})$')


def parse_utc_offset(value: object) -> int:
    """Return the UTC offset ``value`` in seconds east of UTC; ValueError otherwise.

    Accepts hours as an int or float (``1``, ``-5.5``; not a bool), ``'+HH:MM'`` /
    ``'-HH:MM'`` and ``'UTC'`` / ``'Z'``. Every error message starts with ``<value> is not a
    UTC offset``.
    """
    def bad(reason: str) -> ValueError:
        return ValueError(f'{value!r} is not a UTC offset: {reason}')

    if isinstance(value, bool):
        raise bad(f'give {UTC_OFFSET_FORMS}')
    if isinstance(value, str):
        text = value.strip()
        if text.upper() in ('UTC', 'Z'):
            return 0
        match = _OFFSET.match(text)
        if match is None:
            raise bad(f'give {UTC_OFFSET_FORMS}')
        sign, hours, minutes = match.groups()
        if int(minutes) > 59:
            raise bad('the minutes must be 00..59')
        seconds = (int(hours) * 60 + int(minutes)) * 60
        if seconds > MAX_UTC_OFFSET_S:
            raise bad('it is outside -14:00..+14:00')
        return -seconds if sign == '-' else seconds
    if not isinstance(value, (int, float)):
        raise bad(f'give {UTC_OFFSET_FORMS}')
    if not math.isfinite(value) or abs(value) * 3600 > MAX_UTC_OFFSET_S:
        # YAML 1.1 reads an unquoted +1:00 as the base-60 integer 60: say so.
        hint = "; an unquoted +1:00 reads as 60 in YAML, quote it: '+01:00'" \
            if isinstance(value, int) else ''
        raise bad(f'it is outside -14:00..+14:00{hint}')
    minutes = value * 60
    if abs(minutes - round(minutes)) > 1e-6:
        raise bad('it is not a whole number of minutes')
    return round(minutes) * 60


def format_utc_offset(seconds: float) -> str:
    """Return ``seconds`` east of UTC as ``'+HH:MM'`` / ``'-HH:MM'`` (whole minutes)."""
    minutes = round(abs(seconds) / 60)
    return f'{"-" if seconds < 0 else "+"}{minutes // 60:02d}:{minutes % 60:02d}'


def _hhmm(minute: int) -> str:
    return f'{minute // 60:02d}:{minute % 60:02d}'


@dataclass(frozen=True)
class Shift:
    """A daily window ``[start, end)`` in minutes after local midnight; may cross midnight.

    ``end_min`` may be 1440 (``24:00``). ``end_min < start_min`` means the shift crosses
    midnight (``22:00-06:00`` runs into the next day). ``start_min == end_min`` is rejected
    as ambiguous. ``str(shift)`` is its ``'HH:MM-HH:MM'`` spelling.
    """

    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_min < MINUTES_PER_DAY:
            raise ValueError(f'start_min must be in [0, 1440), got {self.start_min}')
        if not 0 <= self.end_min <= MINUTES_PER_DAY:
            raise ValueError(f'end_min must be in [0, 1440], got {self.end_min}')
        if self.start_min == self.end_min:
            raise ValueError("a shift must not start and end at the same time; use "
                             "'00:00-24:00' for a full day")

    @classmethod
    def parse(cls, text: str) -> Shift:
        """Parse ``'HH:MM-HH:MM'`` (hours 00-23, or 24:00 as an end); ValueError naming
        the text otherwise."""
        parts = text.split('-') if isinstance(text, str) else []
        if len(parts) != 2:
            raise ValueError(f'{text!r} is not HH:MM-HH:MM')
        minutes = []
        for part in (p.strip() for p in parts):
            match = _TIME.match(part)
            hour, minute = (int(g) for g in match.groups()) if match else (99, 99)
            if hour > 24 or minute > 59 or (hour == 24 and minute != 0):
                raise ValueError(f'{text!r} is not HH:MM-HH:MM ({part!r} is not a time of '
                                 'day)')
            minutes.append(hour * 60 + minute)
        start, end = minutes
        if start == MINUTES_PER_DAY:
            raise ValueError(f'{text!r} starts at 24:00; use 00:00')
        if start == end:
            raise ValueError(f'{text!r} is empty (it starts and ends at the same time); use '
                             "'00:00-24:00' for a full day")
        return cls(start, end)

    @property
    def crosses_midnight(self) -> bool:
        """Whether the shift ends on the day after it starts."""
        return self.end_min < self.start_min

    @property
    def duration_s(self) -> float:
        """Length of the shift, in seconds."""
        minutes = self.end_min - self.start_min
        return (minutes + MINUTES_PER_DAY if minutes < 0 else minutes) * 60.0

    def contains(self, local_seconds: float) -> bool:
        """Whether the local time ``local_seconds`` (epoch seconds + offset) is inside."""
        minute = (local_seconds % SECONDS_PER_DAY) / 60.0
        if self.crosses_midnight:
            return minute >= self.start_min or minute < self.end_min
        return self.start_min <= minute < self.end_min

    def start_day(self, local_seconds: float) -> int:
        """Return the local day number (days since 1970-01-01) on which the shift began.

        The after-midnight part of a shift that crosses midnight belongs to the previous
        day, so a night shift is one shift from its start to its end.
        """
        day = math.floor(local_seconds / SECONDS_PER_DAY)
        minute = (local_seconds % SECONDS_PER_DAY) / 60.0
        if self.crosses_midnight and minute < self.end_min:
            day -= 1
        return day

    def __str__(self) -> str:
        return f'{_hhmm(self.start_min)}-{_hhmm(self.end_min)}'


def uncovered(shifts: Iterable[Shift]) -> str:
    """Return the first stretch of the day no shift covers, as ``'HH:MM-HH:MM'``; '' if none.

    The scan starts inside a covered stretch, so a gap across midnight reads 22:00-06:00.
    """
    shifts = list(shifts)
    covered = [any(s.contains(m * 60.0 + 30.0) for s in shifts) for m in range(MINUTES_PER_DAY)]
    if all(covered):
        return ''
    if not any(covered):
        return '00:00-24:00'
    day = MINUTES_PER_DAY
    first = covered.index(True)
    gap_start = (first + next(k for k in range(day) if not covered[(first + k) % day])) % day
    length = next(k for k in range(1, day + 1) if covered[(gap_start + k) % day])
    return f'{_hhmm(gap_start)}-{_hhmm((gap_start + length) % day)}'


@dataclass(frozen=True)
class OperatingHours:
    """Daily shifts in a fixed UTC offset: local time = UTC + ``utc_offset_s``.

    Every day has the same shifts (no weekdays, no DST). Overlapping shifts are merged, never
    counted twice. Invalid values raise ValueError.
    """

    shifts: tuple[Shift, ...]
    utc_offset_s: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, 'shifts', tuple(self.shifts))
        if not self.shifts:
            raise ValueError('at least one shift is required')
        for index, shift in enumerate(self.shifts):
            if not isinstance(shift, Shift):
                raise ValueError(f'shifts[{index}] must be a Shift, got {shift!r}')
        offset = self.utc_offset_s
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) \
                or not math.isfinite(offset) or abs(offset) > MAX_UTC_OFFSET_S:
            raise ValueError(f'utc_offset_s must be within +/-14:00, got {offset!r}')

    @classmethod
    def parse(cls, shifts: Iterable[str], utc_offset: object = 0) -> OperatingHours:
        """Build from ``['06:00-14:00', ...]`` and a UTC offset in any accepted form."""
        return cls(tuple(Shift.parse(text) for text in shifts), parse_utc_offset(utc_offset))

    def clip(self, start: float, end: float) -> list[tuple[float, float]]:
        """Return the sorted, disjoint parts of ``[start, end)`` inside operating hours."""
        if end <= start:
            return []
        offset = self.utc_offset_s
        pieces: list[tuple[float, float]] = []
        # Start one day early so that a shift crossing midnight into `start`'s day is seen.
        for day in range(math.floor((start + offset) / SECONDS_PER_DAY) - 1,
                         math.floor((end + offset) / SECONDS_PER_DAY) + 1):
            midnight = day * SECONDS_PER_DAY - offset  # this local midnight, in UTC seconds
            for shift in self.shifts:
                low = max(start, midnight + shift.start_min * 60.0)
                high = min(end, midnight + shift.start_min * 60.0 + shift.duration_s)
                if high > low:
                    pieces.append((low, high))
        pieces.sort()
        merged: list[tuple[float, float]] = []
        for low, high in pieces:
            if merged and low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return merged

    def overlap_s(self, start: float, end: float) -> float:
        """Return how many seconds of ``[start, end)`` fall inside operating hours."""
        return sum(high - low for low, high in self.clip(start, end))

    def contains(self, time: float) -> bool:
        """Whether the instant ``time`` (epoch seconds, UTC) is inside operating hours."""
        return bool(self.clip(time, time + 1e-6))
