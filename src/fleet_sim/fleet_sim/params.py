"""The simulated robot's parameters: declarations, validation and the config snapshot.

Plain Python (no rclpy): :data:`PARAM_SPECS` declares every parameter once (default,
description, units, range), :func:`check_parameter` says why a value is refused,
:func:`typed_overrides` types constructor keywords like the declarations, and
:class:`SimConfig` is the frozen snapshot the simulation reads.
"""

from dataclasses import dataclass
import enum
from typing import Any, Callable, Dict, Optional, Tuple

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from fleet_sim import physics
from fleet_sim.codes import FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS
from fleet_sim.physics import Area


class Fault(str, enum.Enum):
    """Values of the ``fault`` parameter."""

    NONE = 'none'
    """The robot works normally."""

    FAIL_NEXT_GOAL = 'fail_next_goal'
    """The next navigation goal aborts at once (no valid path); then the fault clears."""

    STUCK = 'stuck'
    """The robot cannot move: navigation runs recoveries, which fail, then aborts."""

    OFFLINE = 'offline'
    """The robot is off the network: the network hook is told so; the sim keeps running."""


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: default, description, units and optional range."""

    name: str
    default: Any
    description: str
    units: str = ''
    low: Optional[float] = None
    high: Optional[float] = None
    constraints: str = ''

    def descriptor(self) -> ParameterDescriptor:
        """Return the descriptor to declare this parameter with."""
        text = f'{self.description} Units: {self.units or "none"}.'
        descriptor = ParameterDescriptor(
            name=self.name, description=text, additional_constraints=self.constraints)
        if self.low is None or self.high is None:
            return descriptor
        if isinstance(self.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=self.low, to_value=self.high, step=0.0)]
        elif isinstance(self.default, int):
            descriptor.integer_range = [
                IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)]
        return descriptor


_COUNT_MAX = 2 ** 31 - 1
_MAINTAINED = 'maintained by the node, set requests from outside are rejected.'
FAULT_VALUES = ', '.join(f.value for f in Fault)

#: Read-only counters the node maintains, with what each counts.
COUNTERS: Dict[str, str] = {
    'goals_received': 'accepted navigation goals',
    'goals_succeeded': 'navigation goals that reached their goal',
    'goals_canceled': 'navigation goals canceled by a client',
}

PARAM_SPECS: Tuple[ParamSpec, ...] = (
    ParamSpec('speed', 1.0, 'Linear speed while navigating.', 'm/s', 0.01, 10.0),
    ParamSpec('angular_speed', 1.5, 'Turn rate while navigating and spinning.', 'rad/s',
              0.01, 10.0),
    ParamSpec('odom_rate', 10.0, 'Rate of the physics update and of odom.', 'Hz', 1.0, 100.0),
    ParamSpec('battery', 1.0, 'Battery charge at start; setting it overwrites the current '
              'charge.', 'fraction of full charge, 0..1', 0.0, 1.0),
    ParamSpec('drain_per_meter', 0.002, 'Battery used per metre driven.',
              'fraction of full charge per m', 0.0, 1.0),
    ParamSpec('drain_idle_per_second', 0.0001, 'Battery used per second, moving or not.',
              'fraction of full charge per s', 0.0, 1.0),
    ParamSpec('charge_per_second', 0.01, 'Battery gained per second while docked.',
              'fraction of full charge per s', 0.0, 1.0),
    ParamSpec('dock_x', 0.0, 'Dock x; the robot charges within 0.3 m of the dock while not '
              'navigating (default: start x).', 'm'),
    ParamSpec('dock_y', 0.0, 'Dock y (default: start y).', 'm'),
    ParamSpec('fault', Fault.NONE.value, 'Injected fault: none (healthy), fail_next_goal (next '
              'navigation goal aborts, then resets), stuck (no progress; recoveries fail), '
              'offline (off the network).', constraints=f'One of: {FAULT_VALUES}.'),
    ParamSpec('blocked_areas', [], 'Axis-aligned rectangles the robot cannot enter.', 'm',
              constraints="Each entry 'x_min,y_min,x_max,y_max'."),
    ParamSpec('recovery_interval', 1.0, 'Time between recoveries while stuck; also each '
              "recovery's time allowance.", 's', 0.01, 60.0),
    ParamSpec('max_recoveries', 6, 'Recoveries per goal before navigation aborts with '
              f'{FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS}.', 'count', 0, 1000),
    *(ParamSpec(name, 0, f'Number of {what} so far; {_MAINTAINED}', 'count', 0, _COUNT_MAX)
      for name, what in COUNTERS.items()),
    ParamSpec('software_version', '1.0.0', 'Software version the robot reports.',
              constraints='Free text, e.g. semantic version 1.2.3.'),
)
#: Names of all parameters SimRobot declares (and accepts as constructor keywords).
PARAMETER_NAMES: Tuple[str, ...] = tuple(spec.name for spec in PARAM_SPECS)
_DEFAULTS = {spec.name: spec.default for spec in PARAM_SPECS}


@dataclass(frozen=True)
class SimConfig:
    """Snapshot of the parameters the simulation reads."""

    speed: float
    angular_speed: float
    odom_rate: float
    drain_per_meter: float
    drain_idle_per_second: float
    charge_per_second: float
    dock_x: float
    dock_y: float
    fault: Fault
    areas: Tuple[Area, ...]
    recovery_interval: float
    max_recoveries: int
    software_version: str = ''

    @classmethod
    def from_values(cls, value: Callable[[str], Any]) -> 'SimConfig':
        """Build the snapshot from ``value(name)``, the current (valid) parameter values."""
        return cls(
            speed=float(value('speed')),
            angular_speed=float(value('angular_speed')),
            odom_rate=float(value('odom_rate')),
            drain_per_meter=float(value('drain_per_meter')),
            drain_idle_per_second=float(value('drain_idle_per_second')),
            charge_per_second=float(value('charge_per_second')),
            dock_x=float(value('dock_x')),
            dock_y=float(value('dock_y')),
            fault=Fault(value('fault')),
            areas=tuple(physics.parse_area(e) for e in (value('blocked_areas') or [])),
            recovery_interval=float(value('recovery_interval')),
            max_recoveries=int(value('max_recoveries')),
            software_version=str(value('software_version')),
        )


def check_parameter(name: str, value: Any, internal: bool) -> Optional[str]:
    """Return why setting ``name`` to ``value`` is refused, or None if it may be set.

    ``internal`` says the node itself sets it (only the node may set the counters).
    Types and ranges are checked by rclpy against the descriptors, not here.
    """
    if name == 'fault':
        try:
            Fault(value)
        except ValueError:
            return f'fault must be one of {FAULT_VALUES}; got {value!r}'
    elif name == 'blocked_areas':
        for index, entry in enumerate(value or []):
            try:
                physics.parse_area(entry)
            except ValueError as error:
                return (f'blocked_areas entry {index} {entry!r} is malformed: {error}; '
                        "expected 'x_min,y_min,x_max,y_max' in metres")
    elif name in COUNTERS and not internal:
        return (f'{name} is maintained by the node (it counts {COUNTERS[name]}) and cannot '
                'be set')
    return None


def typed_overrides(values: Dict[str, Any]) -> Dict[str, Any]:
    """Return constructor keywords typed like the declared parameters.

    Integers given for float parameters become floats and list entries strings; an empty
    list is dropped (it is the default, and rclpy would type it as a byte array).

    :raises TypeError: naming any keyword that is not a parameter.
    """
    unknown = sorted(set(values) - set(PARAMETER_NAMES))
    if unknown:
        raise TypeError(f'unknown SimRobot parameter(s): {", ".join(unknown)}')
    typed = {}
    for name, value in values.items():
        default = _DEFAULTS[name]
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        elif isinstance(default, list):
            value = [str(v) for v in value]
            if not value:
                continue
        typed[name] = value
    return typed
