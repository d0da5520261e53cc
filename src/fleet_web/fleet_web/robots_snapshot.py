"""The manager's registry snapshot as the bridge serves it: converted robot by robot, on demand.

The manager publishes every robot on ``fleet/robots`` (10,000 at fleet scale, every ~2 s).
Converting each message to its API dict when it arrives cost the bridge about 40 % of a
core at 10,000 robots, while a page of the API or the dashboard needs at most 1,000 of
them. :class:`RobotsSnapshot` keeps the messages and converts a robot the first time it is
read, once per snapshot; filtering by connectivity and counting read one string field and
convert nothing. It is a read-only ``Sequence`` of the same dicts a list would hold, so
callers that iterate it see the same answers.

Owned by one thread (the aiohttp loop): it is built and read there only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

Robot = dict[str, Any]


class RobotsSnapshot(Sequence[Robot]):
    """A registry snapshot whose robots are converted (and then kept) when first read."""

    def __init__(self, msgs: Sequence[Any], convert: Callable[[Any], Robot]) -> None:
        self._msgs = msgs
        self._convert = convert
        self._dicts: list[Robot | None] = [None] * len(msgs)
        self._index: dict[str, int] | None = None
        self._states: list[str] | None = None

    def __len__(self) -> int:
        return len(self._msgs)

    def _one(self, i: int) -> Robot:
        robot = self._dicts[i]
        if robot is None:
            robot = self._dicts[i] = self._convert(self._msgs[i])
        return robot

    @overload
    def __getitem__(self, i: int) -> Robot: ...

    @overload
    def __getitem__(self, i: slice) -> list[Robot]: ...

    def __getitem__(self, i: int | slice) -> Robot | list[Robot]:
        if isinstance(i, slice):
            return [self._one(k) for k in range(*i.indices(len(self._msgs)))]
        if i < 0:
            i += len(self._msgs)
        if not 0 <= i < len(self._msgs):
            raise IndexError(i)
        return self._one(i)

    def __iter__(self) -> Iterator[Robot]:
        return (self._one(k) for k in range(len(self._msgs)))

    def get(self, robot_id: str) -> Robot | None:
        """The robot with this id, or None."""
        if self._index is None:
            self._index = {m.robot_id: k for k, m in enumerate(self._msgs)}
        k = self._index.get(robot_id)
        return None if k is None else self._one(k)

    def connectivities(self) -> list[str]:
        """Every robot's connectivity, in order (read from the messages, nothing converted)."""
        if self._states is None:
            self._states = [m.connectivity for m in self._msgs]
        return self._states

    def select(self, connectivity: str) -> list[int]:
        """Positions of the robots of this connectivity."""
        return [k for k, c in enumerate(self.connectivities()) if c == connectivity]


def page(robots: Sequence[Robot], offset: int, limit: int,
         connectivity: str = '') -> tuple[list[Robot], int]:
    """One page of ``robots`` (optionally of one connectivity) and how many there are in all.

    On a :class:`RobotsSnapshot` only the page's robots are converted."""
    if not isinstance(robots, RobotsSnapshot):
        selected = [r for r in robots if r['connectivity'] == connectivity] if connectivity \
            else list(robots)
        return selected[offset:offset + limit], len(selected)
    if not connectivity:
        return robots[offset:offset + limit], len(robots)
    positions = robots.select(connectivity)
    return [robots[k] for k in positions[offset:offset + limit]], len(positions)


def connectivity_counts(robots: Sequence[Robot]) -> dict[str, int]:
    """How many robots are online, stale and offline (other states counted as they come)."""
    states = robots.connectivities() if isinstance(robots, RobotsSnapshot) \
        else [r.get('connectivity', 'offline') for r in robots]
    counts = {'online': 0, 'stale': 0, 'offline': 0}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts
