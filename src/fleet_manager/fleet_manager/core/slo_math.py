"""SLO arithmetic: window lengths, exact burn rates and quantiles (see :mod:`.slo`)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
import math

MINUTE = 60.0
"""Seconds in a minute."""
HOUR = 3600.0
"""Seconds in an hour."""
DAY = 86400.0
"""Seconds in a day."""

DEFAULT_STEP_S = 60.0
"""Default bucket width of an :class:`SliSeries`, in seconds."""


def exact(value: float) -> Fraction:
    """Return ``value`` as the decimal it is spelled as (``0.99`` -> 99/100), exactly."""
    return Fraction(repr(float(value)))


def is_number(value: object) -> bool:
    """Whether ``value`` is an int or float (``bool`` excluded) and finite."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def window_label(seconds: float) -> str:
    """Return the short label of a window length: ``300 -> '5m'``, ``259200 -> '3d'``.

    The largest of days, hours and minutes that divides the length exactly is used; other
    lengths are labelled in seconds (``90 -> '90s'``).
    """
    for unit, size in (('d', DAY), ('h', HOUR), ('m', MINUTE)):
        if seconds >= size and seconds % size == 0:
            return f'{int(seconds // size)}{unit}'
    return f'{int(seconds)}s' if seconds == int(seconds) else f'{seconds}s'


def burn_rate(bad: float, total: float, objective: float) -> float:
    """Return ``(bad / total) / (1 - objective)``, or ``0.0`` when ``total`` is 0.

    Computed exactly and rounded once, with the objective read as its decimal spelling, so a
    burn rate that is exactly at an alert threshold on paper compares equal to it.
    """
    if total <= 0:
        return 0.0
    return float(Fraction(bad) / Fraction(total) / (1 - exact(objective)))


def quantile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-quantile of ``values`` (0 <= q <= 1), which must not be empty.

    Linear interpolation between the closest ranks (numpy's default, 'type 7'): the median of
    an even count is the mean of the middle two; the p90 of 10 sorted values ``x0..x9`` is
    ``x8 + 0.1 * (x9 - x8)``.
    """
    if not values:
        raise ValueError('quantile of no values')
    if not 0.0 <= q <= 1.0:
        raise ValueError(f'quantile {q} outside [0, 1]')
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
