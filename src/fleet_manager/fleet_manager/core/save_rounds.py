"""Spread a periodic save of many changed records over several smaller saves.

Saving every changed robot at once holds the manager for the whole fleet's rows (10,000
robots: about 0.3 s); a service request arriving meanwhile waits for all of it. A
:class:`SaveRounds` instead splits each period (a round) into ``slices`` calls: what changed
before a round starts is saved over that round's calls in about equal shares, so every
changed record is still saved once per period.
"""

from __future__ import annotations

import math
from typing import Iterable


class SaveRounds:
    """Which changed ids to save on each call: one round of ``slices`` calls per period."""

    def __init__(self, slices: int) -> None:
        if slices < 1:
            raise ValueError(f'slices must be at least 1, not {slices}')
        self.slices = slices
        self._changed: set[str] = set()
        self._round: list[str] = []
        self._slice = 0

    def changed(self, ids: Iterable[str]) -> None:
        """Note records that changed since they were last saved."""
        self._changed.update(ids)

    @property
    def round_starts(self) -> bool:
        """True when the next :meth:`take` starts a round (once per period)."""
        return self._slice == 0

    def take(self) -> set[str]:
        """The ids to save on this call."""
        if self._slice == 0:
            self._round = sorted(self._changed)
            self._changed.clear()
        share = math.ceil(len(self._round) / (self.slices - self._slice))
        out = set(self._round[:share])
        del self._round[:share]
        self._slice = (self._slice + 1) % self.slices
        return out

    def take_all(self) -> set[str]:
        """Every id not saved yet (for a final save); the round starts over."""
        out = self._changed | set(self._round)
        self._changed.clear()
        self._round = []
        self._slice = 0
        return out
