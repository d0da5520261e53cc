"""The manager's registry snapshot (``fleet_msgs/FleetRobots``) read from its serialized bytes.

At 10,000 robots the snapshot is about 1.1 MB. rclpy's deserialization builds a
``RobotState``, a ``Pose2D`` and a ``Time`` per robot (each a Python ``__init__``), which
takes the interpreter for 100-300 ms on this machine and stalls the aiohttp loop that
shares it. The bridge therefore takes the message serialized and indexes it here, in
slices (:meth:`RobotsScan.step`): per robot only its offset, id and connectivity are read;
the rest of a robot is read when an API answer needs it (:func:`robot_at`).

The layout, in the order ``FleetRobots.msg`` and ``RobotState.msg`` declare their fields
(see :mod:`fleet_common.cdr` for the encoding)::

    FleetRobots: Time stamp (int32 sec, uint32 nanosec) | uint32 count | RobotState[count]
    RobotState:  string robot_id | string connectivity | uint8 mode | float32 battery
                 | Pose2D pose (float64 x, y, theta; string frame_id)
                 | Time last_seen | string software_version | bool decommissioned
                 | string[] capabilities | string current_mission_id

Pure Python, no rclpy: the test checks it against rclpy's own deserialization.
"""

from __future__ import annotations

import struct
from typing import Any

from fleet_common.cdr import CDR_LE, U32, CdrError, align, read_string, read_u32, skip_string
from fleet_web.convert import robot_dict

_ROBOTS_AT = 16
"""Offset of the first robot: header (4), stamp (8), count (4)."""
_F32 = struct.Struct('<f')
_POSE = struct.Struct('<ddd')
_TIME = struct.Struct('<iI')
_CONNECTIVITY = {s.encode(): s for s in ('online', 'stale', 'offline')}
"""The usual connectivity values, so that indexing shares one string per state."""


def robot_at(raw: bytes, at: int) -> dict[str, Any]:
    """Return the API representation (:func:`fleet_web.convert.robot_json`'s) of the robot
    whose ``RobotState`` starts at offset ``at`` of a serialized FleetRobots.

    Text that is not UTF-8 is read with replacement characters; raises :class:`CdrError`
    (or ``struct.error``) when the record runs past the end."""
    robot_id, at = read_string(raw, at, 'replace')
    connectivity, at = read_string(raw, at, 'replace')
    mode = raw[at]
    battery = _F32.unpack_from(raw, align(at + 1, 4))[0]
    at = align(align(at + 1, 4) + 4, 8)
    pose = _POSE.unpack_from(raw, at)
    at = align(skip_string(raw, at + 24), 4)
    seen_sec, seen_nanosec = _TIME.unpack_from(raw, at)
    version, at = read_string(raw, at + 8, 'replace')
    decommissioned = raw[at] != 0
    count, at = read_u32(raw, at + 1)
    capabilities = []
    for _ in range(count):
        capability, at = read_string(raw, at, 'replace')
        capabilities.append(capability)
    mission, at = read_string(raw, at, 'replace')
    return robot_dict(robot_id, connectivity, mode, battery, pose, seen_sec, seen_nanosec,
                      version, decommissioned, capabilities, mission)


def _scan(raw: bytes, at: int, robots: int, offsets: list[int], ids: list[str],
          states: list[str]) -> int:
    """Index ``robots`` records from ``at``: append each one's offset, id and connectivity;
    return the offset after the last. Alignment is written out (every 4-byte boundary is
    one of CDR's, as the header is 4 bytes long): this loop runs 10,000 times a snapshot."""
    unpack = U32.unpack_from
    end = len(raw)
    known = _CONNECTIVITY
    for _ in range(robots):
        at += -at % 4
        offsets.append(at)
        n = unpack(raw, at)[0]
        start, at = at + 4, at + 4 + n
        if n < 1 or at > end:
            raise CdrError(f'robot_id at byte {start - 4} runs out of the message')
        ids.append(raw[start:at - 1].decode())
        at += -at % 4
        n = unpack(raw, at)[0]
        start, at = at + 4, at + 4 + n
        if n < 1 or at > end:
            raise CdrError(f'connectivity at byte {start - 4} runs out of the message')
        state = raw[start:at - 1]
        states.append(known.get(state) or state.decode())
        at += 1  # mode
        at += -at % 4 + 4  # battery
        at += -(at - 4) % 8 + 24  # pose x, y, theta
        at += -at % 4
        at += 4 + unpack(raw, at)[0]  # pose.frame_id
        at += -at % 4 + 8  # last_seen
        at += 4 + unpack(raw, at)[0]  # software_version
        at += 1  # decommissioned
        at += -at % 4
        capabilities = unpack(raw, at)[0]
        at += 4
        for _ in range(capabilities):
            at += -at % 4
            at += 4 + unpack(raw, at)[0]
        at += -at % 4
        at += 4 + unpack(raw, at)[0]  # current_mission_id
        if at > end:
            raise CdrError(f'robot {ids[-1]!r} runs out of the message')
    return at


class RobotsScan:
    """An index of one serialized FleetRobots, built a slice at a time.

    Raises :class:`CdrError` at construction for anything but little-endian plain CDR (the
    bridge deserializes other encodings with rclpy before they get here) and from
    :meth:`step` for a malformed message."""

    def __init__(self, raw: bytes) -> None:
        if raw[:2] != CDR_LE or len(raw) < _ROBOTS_AT:
            raise CdrError('not a little-endian CDR FleetRobots')
        self.raw = raw
        self.count: int = U32.unpack_from(raw, _ROBOTS_AT - 4)[0]
        """Robots in the snapshot (from the sequence's length)."""
        self.offsets: list[int] = []
        self.ids: list[str] = []
        self.states: list[str] = []
        self._at = _ROBOTS_AT

    @property
    def done(self) -> bool:
        """Every robot is indexed."""
        return len(self.offsets) == self.count

    def step(self, robots: int) -> bool:
        """Index up to ``robots`` more robots; return :attr:`done`."""
        n = min(robots, self.count - len(self.offsets))
        try:
            self._at = _scan(self.raw, self._at, n, self.offsets, self.ids, self.states)
        except (struct.error, UnicodeDecodeError) as exc:
            raise CdrError(f'malformed FleetRobots: {exc}') from exc
        return self.done
