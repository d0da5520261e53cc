"""RViz markers of the fleet (visualization_msgs/MarkerArray on fleet/markers).

Robots are cylinders coloured by state with a text label; missions show their goals and
the path from the robot through its waypoints; open incidents are red cubes; the site's
named areas are flat translucent boxes. Markers of robots that left the picture (for
example decommissioned ones) are deleted explicitly, so RViz never shows a stale robot.
"""

from __future__ import annotations

from typing import Any, Iterable

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from fleet_manager.core.config import FleetConfig
from fleet_manager.core.missions import Mission
from fleet_manager.core.model import Connectivity, Mode, RobotRecord

COLOURS = {
    'idle': (0.1, 0.75, 0.3), 'working': (0.15, 0.45, 0.95), 'charging': (0.95, 0.8, 0.1),
    'error': (0.9, 0.1, 0.1), 'stale': (0.95, 0.55, 0.1), 'offline': (0.5, 0.5, 0.5),
    'unknown': (0.6, 0.6, 0.6), 'paused': (0.48, 0.25, 0.75),
}


def robot_state(rec: RobotRecord) -> str:
    """The colour key of a robot: connectivity first, then mode."""
    if rec.connectivity != Connectivity.ONLINE:
        return rec.connectivity.value
    return rec.mode.label if rec.mode != Mode.UNKNOWN else 'unknown'


def _colour(key: str, alpha: float = 1.0) -> ColorRGBA:
    r, g, b = COLOURS.get(key, COLOURS['unknown'])
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


class MarkerBuilder:
    """Build MarkerArrays and remember what was published, to delete what disappears."""

    def __init__(self, frame_id: str = 'map') -> None:
        self.frame_id = frame_id
        self._ids: dict[tuple[str, str], int] = {}
        self._markers: dict[tuple[str, str], Marker] = {}
        self._published: set[tuple[str, int]] = set()

    def _marker(self, ns: str, key: str, kind: int, stamp: Any) -> Marker:
        """The marker of (ns, key), built once and reused: building a Marker message costs
        far more than setting its fields, and a fleet's markers are rebuilt every second."""
        m = self._markers.get((ns, key))
        if m is None:
            mid = self._ids.setdefault((ns, key), len(self._ids) + 1)
            m = Marker(ns=ns, id=mid, type=kind, action=Marker.ADD)
            m.header.frame_id = self.frame_id
            m.lifetime = Duration(sec=0)
            m.pose.orientation.w = 1.0
            self._markers[(ns, key)] = m
        m.header.stamp = stamp
        return m

    def build(self, robots: Iterable[RobotRecord], missions: Iterable[Mission],
              incidents: Iterable[dict[str, Any]], fleet: FleetConfig, stamp: Any) -> MarkerArray:
        """Return the markers for the current state, with DELETEs for vanished ones."""
        out: list[Marker] = []
        poses = {}
        for rec in robots:
            if rec.decommissioned or rec.last_seen is None:
                continue
            poses[rec.robot_id] = rec.pose
            body = self._marker('robots', rec.robot_id, Marker.CYLINDER, stamp)
            body.pose.position.x, body.pose.position.y = rec.pose.x, rec.pose.y
            body.pose.position.z = 0.25
            body.scale.x = body.scale.y = 0.6
            body.scale.z = 0.5
            body.color = _colour(robot_state(rec))
            body.text = robot_state(rec)
            label = self._marker('labels', rec.robot_id, Marker.TEXT_VIEW_FACING, stamp)
            label.pose.position.x, label.pose.position.y = rec.pose.x, rec.pose.y
            label.pose.position.z = 0.9
            label.scale.z = 0.35
            label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
            battery = '' if rec.battery is None else f' {rec.battery:.0%}'
            label.text = f'{rec.robot_id} ({robot_state(rec)}{battery})'
            out += [body, label]
        for m in missions:
            if m.state.terminal or not m.waypoints:
                continue
            goal = m.waypoints[-1]
            sphere = self._marker('goals', m.id, Marker.SPHERE, stamp)
            sphere.pose.position.x, sphere.pose.position.y = goal.x, goal.y
            sphere.scale.x = sphere.scale.y = sphere.scale.z = 0.3
            sphere.color = _colour('working' if m.robot_id else 'unknown', 0.9)
            out.append(sphere)
            if m.robot_id in poses:
                path = self._marker('paths', m.id, Marker.LINE_STRIP, stamp)
                path.scale.x = 0.05
                path.color = _colour('working', 0.6)
                start = poses[m.robot_id]
                path.points = [Point(x=start.x, y=start.y, z=0.05)] + [
                    Point(x=w.x, y=w.y, z=0.05) for w in m.waypoints]
                out.append(path)
        for inc in incidents:
            pose = inc.get('pose') or {}
            cube = self._marker('incidents', str(inc['id']), Marker.CUBE, stamp)
            cube.pose.position.x = float(pose.get('x', 0.0))
            cube.pose.position.y = float(pose.get('y', 0.0))
            cube.pose.position.z = 1.3
            cube.scale.x = cube.scale.y = cube.scale.z = 0.4
            cube.color = _colour('error', 0.9)
            cube.text = f'{inc.get("type")} {inc.get("severity")}'
            out.append(cube)
        for area in fleet.areas:
            box = self._marker('areas', area.name, Marker.CUBE, stamp)
            box.pose.position.x = (area.x_min + area.x_max) / 2
            box.pose.position.y = (area.y_min + area.y_max) / 2
            box.scale.x = area.x_max - area.x_min
            box.scale.y = area.y_max - area.y_min
            box.scale.z = 0.02
            box.color = ColorRGBA(r=0.4, g=0.6, b=0.9, a=0.15)
            box.text = area.name
            out.append(box)
        current = {(m.ns, m.id) for m in out}
        live = {(m.ns, m.id) for m in out}
        self._markers = {k: m for k, m in self._markers.items() if (m.ns, m.id) in live}
        for ns, mid in sorted(self._published - current):
            gone = Marker(ns=ns, id=mid, action=Marker.DELETE)
            gone.header.frame_id = self.frame_id
            gone.header.stamp = stamp
            out.append(gone)
        self._published = current
        return MarkerArray(markers=out)
