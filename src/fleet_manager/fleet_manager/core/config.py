"""Load and validate the fleet definition (``config/fleet.yaml``).

Every problem raises :class:`~fleet_common.config.ConfigError` naming the file and the key,
so a node can refuse to configure with a message the user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import pathlib

from fleet_common.config import ConfigReader, read_yaml
from fleet_manager.core.model import Pose
from fleet_manager.core.site_map import OccupancyGrid, load_occupancy_for

__all__ = ['Area', 'FleetConfig', 'RobotSpec', 'load_fleet_config']


@dataclass(frozen=True)
class Area:
    """A named axis-aligned rectangle of the site map, in metres."""

    name: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def contains(self, x: float, y: float) -> bool:
        """Return True when (x, y) lies inside the rectangle (edges included)."""
        return self.x_min <= x <= self.x_max and self.y_min <= y <= self.y_max


@dataclass(frozen=True)
class RobotSpec:
    """What the fleet definition says about one robot."""

    robot_id: str
    capabilities: tuple[str, ...] = ()
    group: str = ''
    dock: str = ''


@dataclass(frozen=True)
class FleetConfig:
    """The fleet definition: site, robots, defaults for robots not listed, and the map."""

    site: str = 'site'
    frame_id: str = 'map'
    robots: dict[str, RobotSpec] = field(default_factory=dict)
    default_capabilities: tuple[str, ...] = ()
    default_group: str = ''
    areas: tuple[Area, ...] = ()
    docks: dict[str, Pose] = field(default_factory=dict)
    source: str = ''
    occupancy: OccupancyGrid | None = field(default=None, repr=False)
    """The site's occupancy grid (``map.occupancy``: a map_server YAML file), if any."""

    def spec_for(self, robot_id: str) -> RobotSpec:
        """Return the robot's spec, or one built from the defaults for an unlisted robot.

        An unlisted robot gets a dock too, round-robin over the docks by the number in its id,
        so that the demo's generated robots have somewhere to charge.
        """
        if robot_id in self.robots:
            return self.robots[robot_id]
        dock = ''
        if self.docks:
            names = sorted(self.docks)
            digits = ''.join(c for c in robot_id if c.isdigit())
            dock = names[(int(digits) - 1) % len(names)] if digits else names[0]
        return RobotSpec(robot_id, self.default_capabilities, self.default_group, dock)

    def area_at(self, x: float, y: float) -> str | None:
        """Return the name of the first area containing (x, y), or None."""
        for area in self.areas:
            if area.contains(x, y):
                return area.name
        return None

    def known_capabilities(self) -> set[str]:
        """Return every capability some configured robot (or the defaults) offers."""
        caps = set(self.default_capabilities)
        for spec in self.robots.values():
            caps.update(spec.capabilities)
        return caps


def load_fleet_config(path: str | pathlib.Path) -> FleetConfig:
    """Load ``fleet.yaml``; raise ConfigError naming file and key on any problem."""
    file = str(path)
    r = ConfigReader(file)
    root = r.root(read_yaml(path))
    r.unknown_keys(root, {'site', 'robot_defaults', 'robots', 'map'}, '')
    site = r.string(root.get('site', 'site'), 'site', required=True)

    defaults = r.mapping(root.get('robot_defaults'), 'robot_defaults')
    r.unknown_keys(defaults, {'capabilities', 'group'}, 'robot_defaults')
    default_caps = r.strings(defaults.get('capabilities'), 'robot_defaults.capabilities')
    default_group = r.string(defaults.get('group'), 'robot_defaults.group')

    map_ = r.mapping(root.get('map'), 'map')
    r.unknown_keys(map_, {'frame_id', 'areas', 'docks', 'occupancy'}, 'map')
    frame_id = r.string(map_.get('frame_id', 'map'), 'map.frame_id', required=True)
    areas = []
    seen_areas: set[str] = set()
    for i, raw in enumerate(r.seq(map_.get('areas'), 'map.areas')):
        key = f'map.areas[{i}]'
        raw = r.mapping(raw, key)
        r.unknown_keys(raw, {'name', 'x_min', 'y_min', 'x_max', 'y_max'}, key)
        name = r.string(raw.get('name'), f'{key}.name', required=True)
        if name in seen_areas:
            raise r.fail(f'{key}.name', f'duplicate area name {name!r}')
        seen_areas.add(name)
        vals = {}
        for k in ('x_min', 'y_min', 'x_max', 'y_max'):
            if k not in raw:
                raise r.fail(f'{key}.{k}', 'is required')
            vals[k] = r.number(raw[k], f'{key}.{k}')
        if vals['x_min'] >= vals['x_max']:
            raise r.fail(f'{key}.x_max', 'must be greater than x_min')
        if vals['y_min'] >= vals['y_max']:
            raise r.fail(f'{key}.y_max', 'must be greater than y_min')
        areas.append(Area(name, **vals))

    docks = {}
    for name, raw in r.mapping(map_.get('docks'), 'map.docks').items():
        key = f'map.docks.{name}'
        raw = r.mapping(raw, key)
        r.unknown_keys(raw, {'x', 'y', 'theta'}, key)
        for k in ('x', 'y'):
            if k not in raw:
                raise r.fail(f'{key}.{k}', 'is required')
        docks[str(name)] = Pose(r.number(raw['x'], f'{key}.x'), r.number(raw['y'], f'{key}.y'),
                                r.number(raw.get('theta', 0.0), f'{key}.theta'), frame_id)

    robots: dict[str, RobotSpec] = {}
    for i, raw in enumerate(r.seq(root.get('robots'), 'robots')):
        key = f'robots[{i}]'
        raw = r.mapping(raw, key)
        r.unknown_keys(raw, {'id', 'capabilities', 'group', 'dock'}, key)
        robot_id = r.string(raw.get('id'), f'{key}.id', required=True)
        if robot_id in robots:
            raise r.fail(f'{key}.id', f'duplicate robot id {robot_id!r}')
        if not all(c.isalnum() or c == '_' for c in robot_id) or robot_id[0].isdigit():
            raise r.fail(f'{key}.id', f'{robot_id!r} is not a valid ROS name '
                         '(letters, digits and _, not starting with a digit)')
        dock = r.string(raw.get('dock'), f'{key}.dock')
        if dock and dock not in docks:
            raise r.fail(f'{key}.dock', f'unknown dock {dock!r} (map.docks has: '
                         f'{", ".join(sorted(docks)) or "none"})')
        caps = r.strings(raw.get('capabilities'), f'{key}.capabilities') \
            if 'capabilities' in raw else default_caps
        group = r.string(raw.get('group'), f'{key}.group') or default_group
        robots[robot_id] = RobotSpec(robot_id, caps, group, dock)

    occupancy = load_occupancy_for(r, map_.get('occupancy'), 'map.occupancy',
                                   pathlib.Path(path).parent)
    return FleetConfig(site=site, frame_id=frame_id, robots=robots,
                       default_capabilities=default_caps, default_group=default_group,
                       areas=tuple(areas), docks=docks, source=file, occupancy=occupancy)
