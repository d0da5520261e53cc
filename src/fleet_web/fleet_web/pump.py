"""The event pump: reads the manager's event log from the bridge's persisted cursor and
feeds the webhook outbox and the metrics.

It wakes on live events and otherwise polls; what it reads comes from the log itself
(``get_events``), so a missed live message or a bridge restart never loses an event.

Gauges of current state (open incidents, robots by connectivity) are rebuilt from the
manager's state (``list_incidents``, ``list_robots``) before the first batch, not from the
cursor: after a restart the bridge reads only what happened since its cursor, and the open
incidents gauge would otherwise forget every incident opened before it.

It never stops on its own: while the manager does not answer, or the bridge's store cannot
take the batch (a full disk, a damaged file), it backs off (up to ``max_backoff_s``) and tries
again, and says so in :attr:`BridgeHealth.pump` (shown by ``/health`` and ``/metrics``) until a
batch goes through. The cursor moves only with a stored batch, so nothing is lost meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from typing import Any

from fleet_web import convert
from fleet_web.api_errors import Unavailable
from fleet_web.metrics import Metrics
from fleet_web.ros_bridge import FleetBackend
from fleet_web.status import BridgeHealth, storage_reason
from fleet_web.webhooks import Outbox

LOG = logging.getLogger('fleet_web.pump')
OPEN_INCIDENT_STATES = ('triggered', 'acknowledged')
REBUILD_PAGE = 500


class EventPump:
    """Move events from the manager's log into the outbox, batch by batch."""

    def __init__(self, backend: FleetBackend, outbox: Outbox, metrics: Metrics,
                 batch: int = 500, poll_s: float = 1.0, max_backoff_s: float = 10.0,
                 health: BridgeHealth | None = None) -> None:
        self._backend = backend
        self._outbox = outbox
        self._metrics = metrics
        self._batch = batch
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s
        self.health = health or BridgeHealth()
        self.caught_up = asyncio.Event()
        self._stopping = False
        self._gauges_rebuilt = False

    def stop(self) -> None:
        """Make :meth:`run` return at its next step. A cancel alone is not enough on Python
        3.11, where ``asyncio.wait_for`` can swallow a cancellation that races a result."""
        self._stopping = True

    async def _guarded_step(self) -> bool | None:
        """One step; None when it failed (logged, and the health updated)."""
        try:
            progressed = await self.step()
        except Unavailable:
            return None  # the manager is away: /health says so on its own
        except (sqlite3.Error, OSError) as exc:
            reason = f'cannot store events: {storage_reason(exc)}'
            self.health.pump.fail(reason, time.time())
            self.health.storage.fail(storage_reason(exc), time.time())
            return None
        except ValueError as exc:  # a malformed event from the manager
            self.health.pump.fail(f'cannot ingest a batch: {exc}', time.time())
            return None
        self.health.pump.ok()
        if progressed:  # a batch was written: the store takes writes again
            self.health.storage.ok()
        return progressed

    async def run(self) -> None:
        """Run until :meth:`stop` (or cancelled); never ends on an error."""
        feed = self._backend.subscribe()
        backoff = self._poll_s
        try:
            while not self._stopping:
                progressed = await self._guarded_step()
                if progressed is None:  # failed: wait, whatever arrives meanwhile
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
                    continue
                backoff = self._poll_s
                if progressed:
                    continue
                self.caught_up.set()
                try:
                    await asyncio.wait_for(feed.queue.get(), self._poll_s)
                except asyncio.TimeoutError:
                    pass
                while not feed.queue.empty():  # one fetch serves every queued wake-up
                    feed.queue.get_nowait()
                feed.overflowed = False
        finally:
            self._backend.unsubscribe(feed)

    async def rebuild_gauges(self) -> None:
        """Set the current-state gauges from the manager (raises Unavailable while away)."""
        open_ids: list[str] = []
        for state in OPEN_INCIDENT_STATES:
            offset = 0
            while True:
                page, total = await self._backend.list_incidents(
                    state, '', '', None, None, offset, REBUILD_PAGE)
                open_ids += [str(i['id']) for i in page]
                offset += len(page)
                if not page or offset >= total:
                    break
        self._metrics.set_robots(await self._backend.list_robots())
        self._metrics.reset_open_incidents(open_ids)
        self._gauges_rebuilt = True

    async def step(self) -> bool:
        """Ingest one batch after the cursor; return True when it read anything.

        The first step rebuilds the current-state gauges first (:meth:`rebuild_gauges`)."""
        if not self._gauges_rebuilt:
            await self.rebuild_gauges()
        cursor = self._outbox.cursor()
        events, _ = await self._backend.get_events(cursor, self._batch, [])
        if not events:
            return False
        # The batch's transaction ends in an fsync: off the event loop, so the HTTP requests
        # it serves meanwhile (a mission submission among them) do not wait for the disk.
        # Steps run one after the other, so the cursor still moves in order.
        await asyncio.to_thread(self._outbox.ingest, events)
        for e in events:
            try:
                when = convert.epoch_from_iso(e['time']) if e.get('time') else 0.0
            except ValueError:
                when = 0.0
            self._metrics.observe_event(e, when)
        return True


def summary(events: list[dict[str, Any]]) -> str:
    """One line naming a batch, for logs."""
    return f'{len(events)} event(s) {events[0]["id"]}..{events[-1]["id"]}' if events else 'none'
