"""Natural order of names: ``robot2`` before ``robot10``, as people count.

One sort key for every list of robots (the manager's registry and so the API and the
dashboard, fleetctl, rollouts' draw order).
"""

from __future__ import annotations

import re
from typing import Any

_DIGITS = re.compile(r'(\d+)')


def natural_key(text: str) -> tuple[list[Any], str]:
    """Sort key that orders digit runs by value and letters without case: ``robot2``
    before ``robot10`` before ``Robot11``; equal keys fall back to the text itself, so the
    order is total and stable."""
    parts: list[Any] = _DIGITS.split(text)
    parts[1::2] = [int(p) for p in parts[1::2]]
    parts[0::2] = [p.casefold() for p in parts[0::2]]
    return parts, text
