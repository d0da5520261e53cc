"""What the manager node offers its features and its commit pipeline.

:class:`ManagerHost` is the node's side of two small contracts: the features' typed
:class:`~fleet_manager.features.FeatureHost` (read access to the fleet, the clock, the
logger, their own publishers and services) and the pipeline's
:class:`~fleet_manager.pipeline.Outlet` (publish what was committed, send robot commands
and acknowledgements, run after-commit work off the executor).

Every service of the manager is served through :meth:`ManagerHost.create_service`, on the
manager's API thread (:mod:`fleet_manager.api_thread`), holding the domain lock: it
answers NOT_ACTIVE while the node is inactive or the store cannot be written, calls the
handler, commits the changes the handler returns, and then completes the response.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any, Callable, Iterable, Sequence

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from fleet_manager import convert
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.missions import Command, Mission
from fleet_manager.core.model import Event, RobotRecord
from fleet_manager.features import Handler
from fleet_manager.ingest import RobotWire
from fleet_manager.pipeline import Pipeline, RobotCommandRequest, StorageUnavailable
from fleet_manager.services import Domain, Finish
from fleet_manager.store import FleetStore

NOT_ACTIVE = 2
"""The NOT_ACTIVE error code every fleet_msgs service response declares."""
SERVICE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200,
                         reliability=ReliabilityPolicy.RELIABLE)
"""Deep enough that a burst of concurrent bridge requests is queued, not dropped."""
DRAIN_TIMEOUT = 5.0
"""s the node waits for queued after-commit work when it stops; the rest is dropped."""


class ManagerHost:
    """The node's services to its features and to the pipeline."""

    def __init__(self, node: Any, domain: Domain, wire: RobotWire) -> None:
        self._node = node
        self._domain = domain
        self._wire = wire
        self.fleet: FleetConfig = domain.fleet
        self.store: FleetStore = domain.store
        self.pipeline: Pipeline | None = None
        self.publishers: dict[str, Any] = {}
        self._entities: list[Any] = []
        self._worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix='fleet-after-commit')
        self._pending: set[concurrent.futures.Future[None]] = set()
        self._command_id = time.time_ns() // 1000
        """Command ids start at the wall clock in µs, so they keep increasing across
        restarts of the manager."""

    # -- FeatureHost -------------------------------------------------------------------------
    def now(self) -> float:
        return float(self._node.now())

    def robot(self, robot_id: str) -> RobotRecord | None:
        return self._domain.registry.find(robot_id)

    def robots(self) -> list[RobotRecord]:
        return self._domain.registry.records()

    def missions(self) -> list[Mission]:
        return self._domain.board.missions()

    def logger(self) -> Any:
        return self._node.get_logger()

    def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
        pub = self._node.create_publisher(msg_type, topic, qos)
        self._entities.append(pub)
        return pub

    def create_service(self, srv_type: Any, name: str, handler: Handler,
                       finish: Finish | None = None) -> Any:
        def serve(req: Any, resp: Any) -> Any:
            pipeline = self.pipeline
            if not self._node.active or pipeline is None:
                return _not_active(resp, 'the fleet manager is not active')
            if not pipeline.retry():
                return _not_active(resp, f'the fleet store cannot be written: '
                                         f'{pipeline.degraded}')
            resp, changes = handler(req, resp)
            if changes:
                try:
                    stored = pipeline.commit(changes)
                except StorageUnavailable as exc:
                    return _not_active(resp, f'the fleet store cannot be written: {exc}')
                if finish is not None:
                    finish(resp, stored)
            return resp
        srv = self._node.api.create_service(srv_type, name, serve, SERVICE_QOS)
        self._entities.append(srv)
        return srv

    def destroy(self, entity: Any) -> None:
        if entity is None:
            return
        if entity in self._entities:
            self._entities.remove(entity)
        if hasattr(entity, 'srv_type'):
            self._node.api.destroy_service(entity)
        else:
            self._node.destroy_publisher(entity)

    def destroy_all(self) -> None:
        """Destroy every entity created through the host; finish the after-commit work."""
        for entity in list(self._entities):
            self.destroy(entity)
        # Finish the after-commit work (snapshot bags) for a bounded time: a manager asked
        # to stop must stop, even with a backlog of bags after a burst of incidents.
        _, left = concurrent.futures.wait(list(self._pending), timeout=DRAIN_TIMEOUT)
        if left:
            self._node.get_logger().warning(
                f'stopping: {len(left)} after-commit jobs (snapshot bags) not done within '
                f'{DRAIN_TIMEOUT:g} s are dropped')
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()

    # -- Outlet ------------------------------------------------------------------------------
    def next_command_id(self) -> int:
        self._command_id += 1
        return self._command_id

    def publish_events(self, events: Sequence[Event]) -> None:
        pub = self.publishers.get('events')
        if pub is not None:
            for e in events:
                pub.publish(convert.event_to_msg(e))

    def publish_missions(self, missions: Sequence[Mission]) -> None:
        pub = self.publishers.get('missions')
        if pub is not None:
            for m in missions:
                pub.publish(convert.mission_to_msg(m))

    def send_commands(self, commands: Sequence[tuple[int, Command | RobotCommandRequest]]
                      ) -> None:
        self._wire.send(commands, self.fleet, self.logger().warning)

    def acknowledge(self, robot_ids: Iterable[str]) -> None:
        self._wire.acknowledge(robot_ids, self._domain.link, self.now())

    def run_after_commit(self, work: Sequence[Callable[[], None]]) -> None:
        for job in work:
            future = self._worker.submit(job)
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)


def _not_active(resp: Any, message: str) -> Any:
    resp.success = False
    resp.error_code = NOT_ACTIVE
    resp.error_msg = message
    return resp
