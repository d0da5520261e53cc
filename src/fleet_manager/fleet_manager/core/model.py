"""Plain data the manager's domain works on; no ROS types (conversion lives in convert.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
import math
from typing import Any, NamedTuple

from fleet_common.events import Payload


class Connectivity(str, enum.Enum):
    """Whether the manager hears from a robot."""

    ONLINE = 'online'
    """A status arrived within the stale timeout."""
    STALE = 'stale'
    """No status for ``stale_after_periods`` report periods."""
    OFFLINE = 'offline'
    """No status for ``offline_after_periods`` report periods, or never heard from."""


class Mode(enum.IntEnum):
    """What a robot is doing, as its agent reports it (values of RobotStatus.MODE_*)."""

    UNKNOWN = 0
    """Never reported."""
    IDLE = 1
    """Available for work."""
    WORKING = 2
    """Executing a mission or driving to its dock."""
    CHARGING = 3
    """On its charger."""
    ERROR = 4
    """The robot reports an error (diagnostics at ERROR)."""
    PAUSED = 5
    """Executing a mission that an operator or a rule paused."""

    @property
    def label(self) -> str:
        """The lower-case name used in JSON (``idle``, ``working``, ...)."""
        return _MODE_LABELS[self]


_MODE_LABELS = {m: m.name.lower() for m in Mode}


class Pose(NamedTuple):
    """A planar pose; metres and radians (an immutable value, cheap to build: every status
    of every robot makes one)."""

    x: float = 0.0
    y: float = 0.0
    theta: float = 0.0
    frame_id: str = 'map'

    def is_finite(self) -> bool:
        """Return True when every coordinate is a finite number."""
        return math.isfinite(self.x) and math.isfinite(self.y) and math.isfinite(self.theta)

    def distance_to(self, x: float, y: float) -> float:
        """Return the straight-line distance in metres to (x, y)."""
        return math.hypot(self.x - x, self.y - y)


class StatusReport(NamedTuple):
    """One status report from a robot's agent, as received (an immutable value, cheap to
    build: the manager makes one per status of every robot)."""

    robot_id: str
    seq: int
    stamp: float
    software_version: str = ''
    mode: Mode = Mode.UNKNOWN
    battery: float | None = None
    pose: Pose = Pose()
    current_mission_id: str = ''
    diagnostics_level: int = 0
    report_period: float = 0.0
    current_attempt: int = 0
    mission_progress: float = 0.0
    distance_remaining: float = 0.0
    waypoint_index: int = 0
    number_of_recoveries: int = 0
    epoch: int = 0
    """The agent's outbox epoch."""
    event_seq: int = 0
    """The newest event seq the agent had written when it sent this status."""
    acked_seq: int = 0
    """The newest seq the agent holds as acknowledged (its outbox starts after it)."""


@dataclass(frozen=True)
class RobotEventReport:
    """One discrete event from a robot's agent (a recovery, an abort, a mission outcome)."""

    robot_id: str
    seq: int
    stamp: float
    type: str
    severity: int = 0
    message: str = ''
    data: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0


@dataclass
class RobotRecord:
    """The registry's entry for one robot."""

    robot_id: str
    connectivity: Connectivity = Connectivity.OFFLINE
    mode: Mode = Mode.UNKNOWN
    battery: float | None = None
    pose: Pose = field(default_factory=Pose)
    last_seen: float | None = None
    software_version: str = ''
    decommissioned: bool = False
    capabilities: tuple[str, ...] = ()
    group: str = ''
    dock: str = ''
    current_mission_id: str = ''
    current_attempt: int = 0
    diagnostics_level: int = 0
    report_period: float = 0.0
    last_seq: int = 0
    """The seq of the latest status (informational: statuses are not de-duplicated)."""
    epoch: int = 0
    """The outbox epoch the latest status named."""
    event_seq: int = 0
    """The newest event seq the agent had written when it sent its latest status."""
    mission_progress: float = 0.0
    """0..1 over the current mission's waypoints, as the robot reports it."""
    distance_remaining: float = 0.0
    """m to the current waypoint."""
    mission_recoveries: int = 0
    """Nav2 recoveries during the current mission."""
    heard_at: float | None = None
    """Manager-side time the robot was last heard from (or the registry was restored)."""
    saved_key: tuple[Any, ...] | None = field(default=None, compare=False, repr=False)
    """What of the record was last worth saving (see Registry.ingest)."""
    report: StatusReport | None = field(default=None, compare=False, repr=False)
    """The latest status applied (a repeat of it is applied cheaply, see Registry.ingest)."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (the store's and the API's shape)."""
        return {
            'robot_id': self.robot_id,
            'connectivity': self.connectivity.value,
            'mode': self.mode.label,
            'battery': self.battery,
            'pose': {'x': self.pose.x, 'y': self.pose.y, 'theta': self.pose.theta,
                     'frame_id': self.pose.frame_id},
            'last_seen': self.last_seen,
            'software_version': self.software_version,
            'decommissioned': self.decommissioned,
            'capabilities': list(self.capabilities),
            'group': self.group,
            'dock': self.dock,
            'current_mission_id': self.current_mission_id,
            'current_attempt': self.current_attempt,
            'diagnostics_level': self.diagnostics_level,
            'report_period': self.report_period,
            'last_seq': self.last_seq,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'RobotRecord':
        """Rebuild a record written by :meth:`to_dict`."""
        pose = data.get('pose') or {}
        return cls(
            robot_id=data['robot_id'],
            connectivity=Connectivity(data.get('connectivity', 'offline')),
            mode=Mode[str(data.get('mode', 'unknown')).upper()],
            battery=data.get('battery'),
            pose=Pose(float(pose.get('x', 0.0)), float(pose.get('y', 0.0)),
                      float(pose.get('theta', 0.0)), pose.get('frame_id', 'map')),
            last_seen=data.get('last_seen'),
            software_version=data.get('software_version', ''),
            decommissioned=bool(data.get('decommissioned', False)),
            capabilities=tuple(data.get('capabilities', ())),
            group=data.get('group', ''),
            dock=data.get('dock', ''),
            current_mission_id=data.get('current_mission_id', ''),
            current_attempt=int(data.get('current_attempt', 0)),
            diagnostics_level=int(data.get('diagnostics_level', 0)),
            report_period=float(data.get('report_period', 0.0)),
            last_seq=int(data.get('last_seq', 0)),
        )


@dataclass(frozen=True)
class NewEvent:
    """A fact to append to the event log; the store gives it an id and a time.

    Build it from a typed payload with :meth:`of`; ``kind`` is one of
    :class:`fleet_common.events.EventKind` and ``payload`` its payload's JSON.
    """

    kind: str
    robot_id: str = ''
    payload: dict[str, Any] = field(default_factory=dict)
    mission_id: str = ''

    @classmethod
    def of(cls, payload: Payload, robot_id: str = '', mission_id: str = '') -> 'NewEvent':
        """Return the event carrying ``payload`` (its kind is the payload's)."""
        return cls(payload.KIND.value, robot_id, payload.to_json(), mission_id)


@dataclass(frozen=True)
class Event:
    """An entry of the append-only event log."""

    id: int
    time: float
    kind: str
    robot_id: str
    payload: dict[str, Any]
    mission_id: str = ''
    payload_json: str = field(default='', compare=False, repr=False)
    """The payload as the store wrote it (JSON), when known: saves encoding it again."""
