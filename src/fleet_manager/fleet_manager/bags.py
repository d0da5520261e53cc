"""Snapshot bags: the minute before an incident, written as an MCAP rosbag2 (no rclpy).

:class:`SnapshotRecorder` keeps, per robot, a bounded time window of the fleet-relevant
messages the manager sees and writes them on request to ``<directory>/<incident_id>/`` with
the pure-Python ``rosbags`` library, so ``ros2 bag info``/``play`` and Foxglove open it.

Feeding it (the manager's choice of topics)::

    rec = SnapshotRecorder('incident_bags', seconds=60)
    rec.record('/fleet/robot_status', STATUS_TYPE, stamp_ns, status_msg)   # RobotStatus
    rec.record('/fleet/robot_events', EVENT_TYPE, stamp_ns, event_msg)     # RobotEvent
    rec.record('/robot1/odom', ODOMETRY_TYPE, stamp_ns, odom_msg_or_dict)  # Odometry
    # or, from the status pose: odometry_from_pose(x, y, theta, stamp_s)
    path = rec.write('INC-000001', 'robot1', until_ns)

Messages may be rclpy messages, rosbags message objects or plain dicts (missing fields
take their zero value; a ``builtin_interfaces/msg/Time`` field also accepts float seconds;
numeric arrays accept lists). They are converted when a bag is written, so recording costs
a deque append; the recorder keeps references, so do not mutate a dict after recording it.
The robot is the message's ``robot_id`` field, else the first segment of a namespaced topic
(``/robot1/odom``), else the ``robot_id`` argument.
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass
import math
import pathlib
import threading
from typing import Any, Callable, Final, Iterable, Literal, Mapping, Sequence

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

STATUS_TOPIC = '/fleet/robot_status'
EVENTS_TOPIC = '/fleet/robot_events'
STATUS_TYPE = 'fleet_msgs/msg/RobotStatus'
EVENT_TYPE = 'fleet_msgs/msg/RobotEvent'
ODOMETRY_TYPE = 'nav_msgs/msg/Odometry'
TIME_TYPE = 'builtin_interfaces/msg/Time'
#: rosbag2 metadata version written (Jazzy reads 8 and 9).
BAG_VERSION: Final[Literal[9]] = 9

_NUMPY_TYPES = {
    'bool': np.bool_, 'byte': np.uint8, 'char': np.uint8, 'int8': np.int8,
    'uint8': np.uint8, 'int16': np.int16, 'uint16': np.uint16, 'int32': np.int32,
    'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64, 'float32': np.float32,
    'float64': np.float64,
}
_INT_TYPES = {'byte', 'char', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64',
              'uint64', 'octet'}
_FLOAT_TYPES = {'float32', 'float64'}


def default_msg_dirs() -> list[pathlib.Path]:
    """Return where fleet_msgs' ``.msg`` files are: the installed share directory when
    ament_index finds it, and the source tree next to this package."""
    dirs = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        try:
            dirs.append(pathlib.Path(get_package_share_directory('fleet_msgs')) / 'msg')
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    here = pathlib.Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / 'src' / 'fleet_msgs' / 'msg'
        if candidate.is_dir():
            dirs.append(candidate)
            break
    return [d for d in dirs if d.is_dir()]


def make_typestore(msg_dirs: Iterable[str | pathlib.Path] | None = None,
                   package: str = 'fleet_msgs') -> Typestore:
    """Return a ROS 2 Jazzy typestore with ``package``'s messages registered.

    The first directory in ``msg_dirs`` (default :func:`default_msg_dirs`) that holds
    ``*.msg`` files is used; FileNotFoundError when none does.
    """
    store = get_typestore(Stores.ROS2_JAZZY)
    for folder in (pathlib.Path(d) for d in (msg_dirs if msg_dirs is not None
                                             else default_msg_dirs())):
        files = sorted(folder.glob('*.msg'))
        if not files:
            continue
        types: dict[str, Any] = {}
        for path in files:
            types.update(get_types_from_msg(path.read_text(encoding='utf-8'),
                                            f'{package}/msg/{path.stem}'))
        store.register(types)
        return store
    raise FileNotFoundError(f'no {package} .msg files found (looked in: '
                            f'{", ".join(str(d) for d in msg_dirs or default_msg_dirs())})')


class MessageBuilder:
    """Builds rosbags message objects of a typestore from dicts or rclpy messages."""

    def __init__(self, store: Typestore) -> None:
        self.store = store

    def knows(self, msgtype: str) -> bool:
        """True when ``msgtype`` (``pkg/msg/Name``) is in the typestore."""
        return msgtype in self.store.fielddefs

    def build(self, msgtype: str, value: Any) -> Any:
        """Return a ``msgtype`` message object built from ``value``.

        ``value`` may be a mapping, any object with the fields as attributes (an rclpy
        message, a rosbags message) or None (all zero). KeyError for an unknown type,
        TypeError/ValueError for a value that does not fit a field.
        """
        cls = self.store.types[msgtype]
        if isinstance(value, cls):
            return value
        if msgtype == TIME_TYPE and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            sec = math.floor(float(value))
            return cls(sec=int(sec), nanosec=int(round((float(value) - sec) * 1e9)) % 10 ** 9)
        _, fields = self.store.fielddefs[msgtype]
        kwargs = {}
        for name, desc in fields:
            kwargs[name] = self._field(desc, _get(value, name))
        return cls(**kwargs)

    def _field(self, desc: Any, raw: Any) -> Any:
        nodetype, detail = desc
        if nodetype == Nodetype.BASE:
            return _base(detail[0], raw)
        if nodetype == Nodetype.NAME:
            return self.build(detail, raw)
        (sub_type, sub_detail), size = detail
        items = [] if raw is None else raw
        if nodetype == Nodetype.ARRAY and raw is None:
            items = [None] * size
        if sub_type == Nodetype.BASE and sub_detail[0] in _NUMPY_TYPES:
            array: np.ndarray[Any, Any]
            if isinstance(items, (bytes, bytearray)):
                array = np.frombuffer(bytes(items), dtype=_NUMPY_TYPES[sub_detail[0]])
            else:
                array = np.array([0 if v is None else v for v in items],
                                 dtype=_NUMPY_TYPES[sub_detail[0]])
            if nodetype == Nodetype.ARRAY and len(array) != size:
                raise ValueError(f'array needs {size} values, got {len(array)}')
            return array
        if sub_type == Nodetype.BASE:
            return [_base(sub_detail[0], v) for v in items]
        return [self.build(sub_detail, v) for v in items]


def _get(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _base(type_name: str, raw: Any) -> Any:
    if type_name in ('string', 'wstring'):
        return '' if raw is None else str(raw)
    if type_name == 'bool':
        return bool(raw)
    if isinstance(raw, (bytes, bytearray)) and type_name in _INT_TYPES:
        return int.from_bytes(raw, 'little')
    if type_name in _INT_TYPES:
        return 0 if raw is None else int(raw)
    if type_name in _FLOAT_TYPES:
        return 0.0 if raw is None else float(raw)
    raise ValueError(f'unsupported field type {type_name!r}')


Derive = Callable[[Any, str, int], Iterable[tuple[str, str, Any]]]
"""(recorded message, robot id, its stamp in ns) -> (topic, message type, message) of the
derived messages."""


@dataclass(frozen=True)
class _Sample:
    stamp_ns: int
    topic: str
    msgtype: str
    message: Any


def odometry_from_pose(x: float, y: float, theta: float, stamp_s: float,
                       frame_id: str = 'map', child_frame_id: str = 'base_link',
                       linear: float = 0.0, angular: float = 0.0) -> dict[str, Any]:
    """Return a nav_msgs/msg/Odometry dict for a planar pose (metres, radians) at
    ``stamp_s`` epoch seconds, e.g. from a RobotStatus when the robot's own odometry is not
    subscribed; ``linear``/``angular`` are the body velocities (m/s, rad/s)."""
    half = 0.5 * float(theta)
    return {'header': {'stamp': float(stamp_s), 'frame_id': frame_id},
            'child_frame_id': child_frame_id,
            'pose': {'pose': {'position': {'x': float(x), 'y': float(y)},
                              'orientation': {'z': math.sin(half), 'w': math.cos(half)}}},
            'twist': {'twist': {'linear': {'x': float(linear)},
                                'angular': {'z': float(angular)}}}}


def robot_of(topic: str, message: Any) -> str:
    """Return the robot a message belongs to: its ``robot_id`` field, else the first
    segment of a namespaced topic other than ``/fleet/...``; '' when neither says."""
    robot = _get(message, 'robot_id')
    if robot:
        return str(robot)
    parts = [p for p in topic.split('/') if p]
    if len(parts) >= 2 and parts[0] != 'fleet':
        return parts[0]
    return ''


class SnapshotRecorder:
    """Per-robot bounded windows of messages, written as MCAP rosbag2 snapshots.

    ``seconds``: how far back a snapshot reaches; ``retain``: how long messages are kept,
    measured back from the robot's newest stamp (default twice ``seconds``, so a snapshot
    written a little after its ``until`` is still complete); ``max_messages``: the most
    messages kept per robot and topic (the oldest go first). ``msg_dirs`` locates
    fleet_msgs' .msg files (see :func:`make_typestore`). Thread-safe.
    """

    def __init__(self, directory: str | pathlib.Path, seconds: float = 60.0, *,
                 retain: float | None = None, max_messages: int = 10_000,
                 msg_dirs: Sequence[str | pathlib.Path] | None = None,
                 typestore: Typestore | None = None,
                 derive: Mapping[str, Derive] | None = None) -> None:
        if not seconds > 0 or not math.isfinite(seconds):
            raise ValueError('seconds must be a positive number')
        retain = 2.0 * seconds if retain is None else retain
        if not retain >= seconds or not math.isfinite(retain):
            raise ValueError('retain must be a number no smaller than seconds')
        if max_messages < 1:
            raise ValueError('max_messages must be at least 1')
        self.directory = pathlib.Path(directory)
        self.seconds = float(seconds)
        self.retain = float(retain)
        self.max_messages = max_messages
        self.store = typestore or make_typestore(msg_dirs)
        self.builder = MessageBuilder(self.store)
        self.derive = dict(derive or {})
        """Topic -> function deriving further messages from each recorded one when a bag is
        written (e.g. odometry from a status's pose), so recording stays one append."""
        self._lock = threading.Lock()
        self._windows: dict[str, dict[str, collections.deque[_Sample]]] = {}
        self._newest: dict[str, int] = {}
        self._types: dict[str, dict[str, str]] = {}

    @property
    def window_ns(self) -> int:
        """The window length in nanoseconds."""
        return int(self.seconds * 1e9)

    def record(self, topic: str, msgtype: str, stamp_ns: int, message: Any,
               robot_id: str | None = None) -> None:
        """Keep ``message`` of ``msgtype`` seen on ``topic`` at ``stamp_ns``.

        The robot is ``robot_id`` when given, else :func:`robot_of`; ValueError when there
        is none, KeyError for a type the typestore does not know. The robot's messages older
        than ``retain`` before its newest stamp are dropped.
        """
        if not self.builder.knows(msgtype):
            raise KeyError(f'unknown message type {msgtype!r}')
        robot = robot_id or robot_of(topic, message)
        if not robot:
            raise ValueError(f'cannot tell which robot a message on {topic!r} belongs to')
        stamp_ns = int(stamp_ns)
        with self._lock:
            topics = self._windows.setdefault(robot, {})
            window = topics.get(topic)
            if window is None:
                window = topics[topic] = collections.deque(maxlen=self.max_messages)
            window.append(_Sample(stamp_ns, topic, msgtype, message))
            self._types.setdefault(robot, {})[topic] = msgtype
            newest = max(self._newest.get(robot, stamp_ns), stamp_ns)
            self._newest[robot] = newest
            horizon = newest - int(self.retain * 1e9)
            for samples in topics.values():
                while samples and samples[0].stamp_ns < horizon:
                    samples.popleft()

    def robots(self) -> list[str]:
        """Return the robots with recorded messages."""
        with self._lock:
            return sorted(r for r, topics in self._windows.items()
                          if any(topics.values()))

    def count(self, robot_id: str) -> int:
        """Return how many messages are kept for ``robot_id``."""
        with self._lock:
            return sum(len(s) for s in self._windows.get(robot_id, {}).values())

    def forget(self, robot_id: str) -> None:
        """Drop everything recorded for ``robot_id``."""
        with self._lock:
            self._windows.pop(robot_id, None)
            self._newest.pop(robot_id, None)
            self._types.pop(robot_id, None)

    def write(self, incident_id: str, robot_id: str, until_ns: int) -> pathlib.Path:
        """Write ``<directory>/<incident_id>/`` (MCAP, rosbag2 version 9) with the robot's
        messages stamped in ``[until_ns - seconds, until_ns]``; return the bag's path.

        Every topic recorded for the robot gets a connection (with its latest type), even
        when empty in the window. ValueError for an incident id that is not a plain file name;
        FileExistsError when the bag exists already. The custom data holds
        ``incident_id``, ``robot_id``, ``since_ns`` and ``until_ns``.
        """
        name = str(incident_id)
        if not name or name in ('.', '..') or '/' in name or '\\' in name:
            raise ValueError(f'incident id {incident_id!r} is not usable as a directory name')
        path = self.directory / name
        if path.exists():
            raise FileExistsError(f'{path} exists already')
        until_ns = int(until_ns)
        since_ns = until_ns - self.window_ns
        with self._lock:
            types = dict(self._types.get(robot_id, {}))
            windows = [list(samples) for samples in self._windows.get(robot_id, {}).values()]
        selected: list[_Sample] = []
        for samples in windows:
            stamps = [s.stamp_ns for s in samples]
            if stamps == sorted(stamps):
                lo = bisect.bisect_left(stamps, since_ns)
                hi = bisect.bisect_right(stamps, until_ns)
                selected.extend(samples[lo:hi])
            else:
                selected.extend(s for s in samples if since_ns <= s.stamp_ns <= until_ns)
        for sample in list(selected):
            derive = self.derive.get(sample.topic)
            if derive is not None:
                for topic, msgtype, message in derive(sample.message, robot_id,
                                                      sample.stamp_ns):
                    types.setdefault(topic, msgtype)
                    selected.append(_Sample(sample.stamp_ns, topic, msgtype, message))
        selected.sort(key=lambda s: (s.stamp_ns, s.topic))
        # Convert everything before creating the bag, so a bad message leaves no half bag.
        rows = [(s.topic, s.msgtype, s.stamp_ns,
                 self.store.serialize_cdr(self.builder.build(s.msgtype, s.message), s.msgtype))
                for s in selected]
        self.directory.mkdir(parents=True, exist_ok=True)
        writer = Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        for key, value in (('incident_id', name), ('robot_id', robot_id),
                           ('since_ns', str(since_ns)), ('until_ns', str(until_ns))):
            writer.set_custom_data(key, value)
        with writer:
            connections = {}
            for topic, msgtype in sorted(types.items()):
                connections[(topic, msgtype)] = writer.add_connection(
                    topic, msgtype, typestore=self.store)
            for topic, msgtype, stamp_ns, data in rows:
                conn = connections.get((topic, msgtype))
                if conn is None:  # the topic's type changed within the window
                    conn = connections[(topic, msgtype)] = writer.add_connection(
                        topic, msgtype, typestore=self.store)
                writer.write(conn, stamp_ns, data)
        return path
