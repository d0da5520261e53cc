"""Facts of the bridge's own that belong in the manager's event log.

The bridge never writes the log; it hands such facts (a webhook subscription its receiver
disabled with 410 Gone) to the manager's ``fleet/log_bridge_event`` service. A fact that
cannot be handed over yet (the manager is restarting) is retried with a growing pause
until it is taken or the bridge stops.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from fleet_web.api_errors import ApiError

log = logging.getLogger(__name__)
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Pauses between attempts to hand a fact over (the last one repeats)."""


class FactSink(Protocol):
    """Where facts go (the ROS backend)."""

    async def log_bridge_event(self, kind: str, payload: dict[str, Any]) -> int: ...


class BridgeFacts:
    """Hand facts to the manager in the background, in order, retrying until taken."""

    def __init__(self, sink: FactSink) -> None:
        self._sink = sink
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def report(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue a fact (call from the event loop's thread)."""
        self._queue.put_nowait((kind, payload))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(),
                                                                name='bridge-facts')

    async def _drain(self) -> None:
        while not self._queue.empty():
            kind, payload = self._queue.get_nowait()
            attempt = 0
            while True:
                try:
                    await self._sink.log_bridge_event(kind, payload)
                    break
                except ApiError as exc:
                    pause = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                    log.warning('cannot log %s in the event log yet (%s); retrying in %g s',
                                kind, exc, pause)
                    attempt += 1
                    await asyncio.sleep(pause)  # back-off before the next attempt

    async def stop(self) -> None:
        """Stop handing facts over (what is still queued is logged as a warning)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if not self._queue.empty():
            log.warning('%d bridge fact(s) not logged before shutdown', self._queue.qsize())
