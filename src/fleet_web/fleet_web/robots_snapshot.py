"""The manager's registry snapshot as the bridge serves it: converted robot by robot, on demand.

The manager publishes every robot on ``fleet/robots`` (10,000 at fleet scale, every ~2 s).
Converting each message to its API dict when it arrives cost the bridge about 40 % of a
core at 10,000 robots, while a page of the API or the dashboard needs at most 1,000 of
them. :class:`RobotsSnapshot` keeps the robots' records (the serialized message's offsets,
or rclpy messages) and converts a robot the first time it is read, once per snapshot;
filtering by connectivity and counting read an index and convert nothing. It is a read-only
``Sequence`` of the same dicts a list would hold, so callers that iterate it see the same
answers.

:class:`RobotsFeed` turns the serialized snapshots the bridge receives into those: it
indexes each one on the event loop a slice at a time (:mod:`fleet_web.robots_wire`), so
an HTTP request waits at most one slice (``slice_s``) for it, never for the whole message.

Owned by one thread (the aiohttp loop): both are built and read there only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
import functools
import time
from typing import Any, overload

from fleet_common.cdr import CdrError
from fleet_web.robots_wire import RobotsScan, robot_at

Robot = dict[str, Any]


class RobotsSnapshot(Sequence[Robot]):
    """A registry snapshot whose robots are converted (and then kept) when first read.

    ``records`` are what ``convert`` takes, one per robot; ``ids`` and ``states`` are the
    robots' ids and connectivities in the same order when known already (else they are
    read from the records' ``robot_id`` and ``connectivity`` when first needed)."""

    def __init__(self, records: Sequence[Any], convert: Callable[[Any], Robot],
                 ids: Sequence[str] | None = None, states: list[str] | None = None) -> None:
        self._records = records
        self._convert = convert
        self._dicts: list[Robot | None] = [None] * len(records)
        self._ids = ids
        self._index: dict[str, int] | None = None
        self._states = states

    @classmethod
    def from_scan(cls, scan: RobotsScan) -> 'RobotsSnapshot':
        """The snapshot of a completely indexed serialized FleetRobots."""
        return cls(scan.offsets, functools.partial(robot_at, scan.raw), scan.ids, scan.states)

    def __len__(self) -> int:
        return len(self._records)

    def _one(self, i: int) -> Robot:
        robot = self._dicts[i]
        if robot is None:
            robot = self._dicts[i] = self._convert(self._records[i])
        return robot

    @overload
    def __getitem__(self, i: int) -> Robot: ...

    @overload
    def __getitem__(self, i: slice) -> list[Robot]: ...

    def __getitem__(self, i: int | slice) -> Robot | list[Robot]:
        if isinstance(i, slice):
            return [self._one(k) for k in range(*i.indices(len(self._records)))]
        if i < 0:
            i += len(self._records)
        if not 0 <= i < len(self._records):
            raise IndexError(i)
        return self._one(i)

    def __iter__(self) -> Iterator[Robot]:
        return (self._one(k) for k in range(len(self._records)))

    def get(self, robot_id: str) -> Robot | None:
        """The robot with this id, or None."""
        if self._index is None:
            self._index = {robot_id: k for k, robot_id in enumerate(self.ids())}
        k = self._index.get(robot_id)
        return None if k is None else self._one(k)

    def connectivities(self) -> list[str]:
        """Every robot's connectivity, in order (nothing converted)."""
        if self._states is None:
            self._states = [r.connectivity for r in self._records]
        return self._states

    def ids(self) -> Sequence[str]:
        """Every robot's id, in order (nothing converted)."""
        return self._ids if self._ids is not None else [r.robot_id for r in self._records]

    def select(self, connectivity: str, id_contains: str = '') -> list[int]:
        """Positions of the robots of this connectivity ('' for any) whose id contains
        ``id_contains`` (case-insensitive; '' for any)."""
        needle = id_contains.lower()
        states = self.connectivities()
        ids = self.ids()
        return [k for k in range(len(ids)) if (not connectivity or states[k] == connectivity)
                and needle in ids[k].lower()]


def page(robots: Sequence[Robot], offset: int, limit: int, connectivity: str = '',
         id_contains: str = '') -> tuple[list[Robot], int]:
    """One page of ``robots`` (optionally of one connectivity, and of ids containing
    ``id_contains``, case-insensitive) and how many there are in all.

    On a :class:`RobotsSnapshot` only the page's robots are converted."""
    if not isinstance(robots, RobotsSnapshot):
        needle = id_contains.lower()
        selected = [r for r in robots if (not connectivity or r['connectivity'] == connectivity)
                    and needle in r['id'].lower()]
        return selected[offset:offset + limit], len(selected)
    if not connectivity and not id_contains:
        return robots[offset:offset + limit], len(robots)
    positions = robots.select(connectivity, id_contains)
    return [robots[k] for k in positions[offset:offset + limit]], len(positions)


def connectivity_counts(robots: Sequence[Robot]) -> dict[str, int]:
    """How many robots are online, stale and offline (other states counted as they come)."""
    states = robots.connectivities() if isinstance(robots, RobotsSnapshot) \
        else [r.get('connectivity', 'offline') for r in robots]
    counts = {'online': 0, 'stale': 0, 'offline': 0}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


class RobotsFeed:
    """The latest registry snapshot, received serialized and indexed a slice at a time.

    :meth:`receive` starts indexing a serialized FleetRobots on the running loop: each turn
    of the loop indexes for at most ``slice_s`` seconds and then lets the loop serve what
    is waiting. A snapshot replaces the current one once it is completely indexed. One that
    arrives while another is being indexed waits, and only the newest waiting one is kept,
    so a burst of snapshots costs one index each for the first and the last. A malformed
    one is dropped and reported through ``on_error``; the current snapshot stays."""

    CHUNK = 100
    """Robots indexed between two looks at the clock (about 0.2 ms on this machine)."""

    def __init__(self, on_error: Callable[[str], None], slice_s: float = 0.002) -> None:
        self.snapshot: RobotsSnapshot | None = None
        self.received_at = 0.0
        """time.monotonic() at which the current snapshot arrived."""
        self._on_error = on_error
        self._slice_s = slice_s
        self._scan: tuple[RobotsScan, float] | None = None
        self._waiting: tuple[bytes, float] | None = None

    def fresh(self, max_age: float) -> RobotsSnapshot | None:
        """The current snapshot if it arrived at most ``max_age`` s ago, else None."""
        if self.snapshot is None or time.monotonic() - self.received_at > max_age:
            return None
        return self.snapshot

    def replace(self, snapshot: RobotsSnapshot, arrived: float) -> None:
        """Make ``snapshot`` (built otherwise) the current one; drop what is being indexed."""
        self._scan = self._waiting = None
        self.snapshot, self.received_at = snapshot, arrived

    def receive(self, raw: bytes, arrived: float) -> None:
        """Index a serialized FleetRobots that arrived at ``arrived`` (time.monotonic());
        call on the loop."""
        if self._scan is not None:
            self._waiting = (raw, arrived)
            return
        try:
            self._scan = (RobotsScan(raw), arrived)
        except CdrError as exc:
            self._on_error(f'fleet/robots snapshot dropped: {exc}')
            return
        asyncio.get_running_loop().call_soon(self._step)

    def _step(self) -> None:
        if self._scan is None:  # replaced meanwhile
            return
        scan, arrived = self._scan
        deadline = time.monotonic() + self._slice_s
        try:
            while not scan.step(self.CHUNK):
                if time.monotonic() >= deadline:
                    asyncio.get_running_loop().call_soon(self._step)
                    return
        except CdrError as exc:
            self._on_error(f'fleet/robots snapshot dropped: {exc}')
        else:
            self.snapshot, self.received_at = RobotsSnapshot.from_scan(scan), arrived
        self._scan = None
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self.receive(*waiting)
