"""The commit pipeline is atomic: an incident and the events that announce it commit together.

A real store (SQLite in a temporary directory), the real incidents feature (the shipped
workflows: ``nav_aborted`` opens a ``navigation_failed`` incident) and the real pipeline; the
node's side (publishers, services, the robot link) is a recording host. A SQLite trigger,
installed from a second connection to the same database file, makes one insert of the commit
fail part-way through the transaction.
"""

from __future__ import annotations

import itertools
import pathlib
import sqlite3
from typing import Any, Callable, Iterable, Iterator, Sequence

import pytest

from fleet_common.events import RobotEventLogged
from fleet_manager.core.config import FleetConfig, load_fleet_config
from fleet_manager.core.missions import Command, Mission
from fleet_manager.core.model import Connectivity, Event, Mode, NewEvent, Pose, RobotRecord
from fleet_manager.features import Handler
from fleet_manager.incidents_feature import IncidentsFeature
from fleet_manager.pipeline import Changes, Pipeline, RobotCommandRequest, StorageUnavailable
from fleet_manager.store import FleetStore

REPO = pathlib.Path(__file__).resolve().parents[3]
CONFIG = REPO / 'src' / 'fleet_bringup' / 'config'
T0 = 1736150400.0  # 2025-01-06 08:00 UTC


class Recorder:
    """The node's side of a feature and of the pipeline, recording what it is given."""

    def __init__(self, fleet: FleetConfig, store: FleetStore, robot: RobotRecord) -> None:
        self.fleet = fleet
        self.store = store
        self._robot = robot
        self.published: list[Any] = []
        self.events: list[Event] = []
        self.commands: list[tuple[int, Command | RobotCommandRequest]] = []
        self.acked: list[str] = []
        self.after_commit: list[Callable[[], None]] = []

    # -- FeatureHost -------------------------------------------------------------------------
    def now(self) -> float:
        return T0

    def robot(self, robot_id: str) -> RobotRecord | None:
        return self._robot if robot_id == self._robot.robot_id else None

    def robots(self) -> list[RobotRecord]:
        return [self._robot]

    def missions(self) -> list[Mission]:
        return []

    def logger(self) -> Any:
        return self

    def warning(self, message: str, **kw: Any) -> None:
        raise AssertionError(f'unexpected warning: {message}')

    error = warning

    def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
        return self

    def publish(self, msg: Any) -> None:
        self.published.append(msg)

    def create_service(self, srv_type: Any, name: str, handler: Handler) -> Any:
        return name

    def destroy(self, entity: Any) -> None:
        pass

    # -- Outlet ------------------------------------------------------------------------------
    def publish_events(self, events: Sequence[Event]) -> None:
        self.events.extend(events)

    def publish_missions(self, missions: Sequence[Mission]) -> None:
        raise AssertionError('no mission changed')

    def send_commands(self, commands: Sequence[tuple[int, Command | RobotCommandRequest]]
                      ) -> None:
        self.commands.extend(commands)

    def acknowledge(self, robot_ids: Iterable[str]) -> None:
        self.acked.extend(robot_ids)

    def run_after_commit(self, work: Sequence[Callable[[], None]]) -> None:
        self.after_commit.extend(work)


@pytest.fixture
def setup(tmp_path: pathlib.Path) -> Iterator[tuple[Pipeline, IncidentsFeature, Recorder,
                                                    pathlib.Path]]:
    """A pipeline over a fresh store with the incidents feature; yield it, the feature, the
    recording host and the database file."""
    db = tmp_path / 'fleet.db'
    store = FleetStore(db)
    robot = RobotRecord(robot_id='robot1', connectivity=Connectivity.ONLINE,
                        mode=Mode.WORKING, battery=0.8, pose=Pose(12.0, 8.0, 0.5),
                        group='floor', dock='dock_1', last_seen=T0)
    host = Recorder(load_fleet_config(CONFIG / 'fleet.yaml'), store, robot)
    feature = IncidentsFeature(str(CONFIG / 'workflows.yaml'), str(CONFIG / 'runbooks'),
                               str(tmp_path / 'bags'))
    assert feature.configure(host) == ''
    ids = itertools.count(1)
    pipeline = Pipeline(store, lambda: [], host.robot, [feature], host,
                        lambda: next(ids), host.now)
    yield pipeline, feature, host, db
    store.close()


def nav_aborted(seq: int = 1) -> Changes:
    """A robot event that opens a ``navigation_failed`` incident, as the intake hands it on
    (with the robot's committed mark and an acknowledgement to send)."""
    payload = RobotEventLogged(type='nav_aborted', severity=2, message='goal aborted',
                               data={'error_code': 104}, seq=seq, stamp=T0, epoch=1)
    return Changes(events=[NewEvent.of(payload, 'robot1')], marks={'robot1': (1, seq)},
                   acks={'robot1'})


def rows(db: pathlib.Path) -> tuple[list[str], list[str], list[tuple[str, int]]]:
    """Return what another connection sees committed: event kinds, incident ids and the
    robots' marks."""
    with sqlite3.connect(db) as conn:
        kinds = [r[0] for r in conn.execute('SELECT kind FROM events ORDER BY id')]
        incidents = [r[0] for r in conn.execute('SELECT id FROM incidents ORDER BY id')]
        marks = [(r[0], r[1]) for r in conn.execute('SELECT robot_id, seq FROM links')]
    return kinds, incidents, marks


FAILURES = {
    # The announcement fails: the robot event was already appended in the transaction (the
    # feature reacts to it once stored), the incident row not yet.
    'incident.opened event': "BEFORE INSERT ON events WHEN NEW.kind = 'incident.opened'",
    # The incident row fails after its events were appended in the same transaction.
    'incident row': 'BEFORE INSERT ON incidents',
}


@pytest.mark.parametrize('failing', sorted(FAILURES))
def test_incident_and_its_events_commit_together(
        setup: tuple[Pipeline, IncidentsFeature, Recorder, pathlib.Path],
        failing: str) -> None:
    pipeline, feature, host, db = setup
    assert feature.flow is not None
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TRIGGER boom {FAILURES[failing]} "
                     "BEGIN SELECT RAISE(ABORT, 'boom'); END")

    with pytest.raises(StorageUnavailable, match='boom'):
        pipeline.commit(nav_aborted())
    # The rule fired (the flow holds the incident in memory) ...
    opened = feature.flow.list()
    assert [(i.type, i.robot_id) for i in opened] == [('navigation_failed', 'robot1')]
    # ... but nothing of the transaction is in the store, and nothing was carried out.
    assert rows(db) == ([], [], [])
    assert pipeline.blocked and 'boom' in pipeline.degraded
    assert (host.events, host.published, host.commands, host.acked, host.after_commit) == \
        ([], [], [], [], [])

    # The store works again: the kept batch commits, each row exactly once.
    with sqlite3.connect(db) as conn:
        conn.execute('DROP TRIGGER boom')
    assert pipeline.retry()
    kinds, incidents, marks = rows(db)
    assert kinds.count('robot.event') == 1 and kinds.count('incident.opened') == 1, kinds
    assert incidents == [opened[0].id] and marks == [('robot1', 1)]
    stored = {e.kind: e for e in host.events}
    assert stored['incident.opened'].payload['id'] == opened[0].id
    assert [e.kind for e in host.events] == kinds  # published once, in log order
    assert host.acked == ['robot1'] and len(host.after_commit) == 1  # the snapshot bag
    assert not pipeline.blocked and pipeline.degraded == ''

    # And the retry did not leave anything to be written twice.
    pipeline.commit(Changes())
    assert rows(db) == (kinds, incidents, marks)
