"""A simulated robot base that speaks Nav2's interfaces, with fault injection.

:class:`SimRobot` is one node, ``/<robot_id>/sim``, standing in for a robot running Nav2:

* topics (namespace-relative): ``odom`` (nav_msgs/Odometry at ``odom_rate``),
  ``battery_state`` (sensor_msgs/BatteryState, 1 Hz), ``diagnostics``
  (diagnostic_msgs/DiagnosticArray, 1 Hz, statuses ``motors`` and ``battery``) and
  ``behavior_tree_log`` (nav2_msgs/BehaviorTreeLog, on recovery status changes); it listens on
  ``cmd_vel_teleop`` (geometry_msgs/Twist) and ``preempt_teleop`` (std_msgs/Empty) while an
  assisted-teleop behavior runs;
* navigator action servers ``navigate_to_pose`` and ``navigate_through_poses``; one navigation
  goal runs at a time across both, and a new one preempts it (the old goal aborts), as in Nav2;
* behavior-server action servers ``spin``, ``backup``, ``wait``, ``drive_on_heading`` and
  ``assisted_teleop``, which the navigator itself calls through an ActionClient as recoveries.

Faults are injected through the ``fault`` parameter (see :class:`Fault`). The kinematics,
geometry and battery model live in :mod:`fleet_sim.physics`.

Threading: action execute callbacks block (waiting on ``threading.Event`` with timeouts) while
goals run, so spin the node in a MultiThreadedExecutor with at least
:data:`RECOMMENDED_EXECUTOR_THREADS` threads; shared state is guarded by one lock.
"""

import argparse
import contextlib
from dataclasses import dataclass
import enum
import math
import signal
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from action_msgs.msg import GoalStatus
from builtin_interfaces.msg import Duration as DurationMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PoseStamped, Quaternion, Twist
from nav2_msgs.action import AssistedTeleop, BackUp, DriveOnHeading, NavigateThroughPoses
from nav2_msgs.action import NavigateToPose, Spin, Wait
from nav2_msgs.msg import BehaviorTreeLog, BehaviorTreeStatusChange
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.duration import Duration
from rclpy.exceptions import InvalidNamespaceException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future
from rclpy.time import Time
from rclpy.utilities import remove_ros_args
from rclpy.validate_namespace import validate_namespace
from sensor_msgs.msg import BatteryState
from std_msgs.msg import Empty

from fleet_sim import physics
from fleet_sim.physics import Area, Pose2D

RCLError = _rclpy.RCLError

NODE_NAME = 'sim'
#: Threads a MultiThreadedExecutor needs so that a navigation goal, the recovery behavior it
#: calls and the physics timer can all run at once.
RECOMMENDED_EXECUTOR_THREADS = 4

# Navigation abort codes, as Nav2's own servers report them through the navigators.
#: No error (also used when a goal is preempted by a newer one, as Nav2 does).
NAV_ERROR_NONE = 0
#: FollowPath: the controller made no progress (recoveries exhausted while stuck).
FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS = 105
#: ComputePathToPose / ComputePathThroughPoses: a goal pose lies in an obstacle.
COMPUTE_PATH_GOAL_OCCUPIED = 206
#: ComputePathToPose / ComputePathThroughPoses: the planner found no valid path.
COMPUTE_PATH_NO_VALID_PATH = 208

# Behavior-server result codes (from nav2_msgs; Jazzy's Wait.action has no codes, so the
# value upstream Nav2 later gave Wait's TIMEOUT is used).
SPIN_UNKNOWN = Spin.Result.UNKNOWN
SPIN_TIMEOUT = Spin.Result.TIMEOUT
BACKUP_UNKNOWN = BackUp.Result.UNKNOWN
BACKUP_TIMEOUT = BackUp.Result.TIMEOUT
BACKUP_INVALID_INPUT = BackUp.Result.INVALID_INPUT
BACKUP_COLLISION_AHEAD = BackUp.Result.COLLISION_AHEAD
DRIVE_ON_HEADING_UNKNOWN = DriveOnHeading.Result.UNKNOWN
DRIVE_ON_HEADING_TIMEOUT = DriveOnHeading.Result.TIMEOUT
DRIVE_ON_HEADING_COLLISION_AHEAD = DriveOnHeading.Result.COLLISION_AHEAD
DRIVE_ON_HEADING_INVALID_INPUT = DriveOnHeading.Result.INVALID_INPUT
ASSISTED_TELEOP_UNKNOWN = AssistedTeleop.Result.UNKNOWN
ASSISTED_TELEOP_TIMEOUT = AssistedTeleop.Result.TIMEOUT
WAIT_UNKNOWN = getattr(Wait.Result, 'UNKNOWN', 740)
WAIT_TIMEOUT = getattr(Wait.Result, 'TIMEOUT', 741)

#: The robot charges while within this distance (m) of its dock and not navigating.
CHARGING_RADIUS = 0.3
#: Battery diagnostics turn WARN below this level and ERROR below the next one.
BATTERY_WARN_LEVEL = 0.2
BATTERY_ERROR_LEVEL = 0.1
#: Navigation and behavior feedback period (s).
FEEDBACK_PERIOD = 0.2
#: Period (s) of battery_state and diagnostics.
STATUS_PERIOD = 1.0
#: A teleop velocity command older than this (s) is ignored.
TELEOP_COMMAND_TIMEOUT = 0.5
#: A recovery call that has not answered this long (s) after its time allowance has failed.
RECOVERY_GRACE = 2.0
#: How long (s) the navigator waits for its own behavior servers to be discovered.
BEHAVIOR_SERVER_WAIT = 1.0
#: How long (s) destroy_node waits for running goals to finish.
SHUTDOWN_TIMEOUT = 3.0

_MAX_PHYSICS_DT = 0.5  # s; longer gaps (e.g. a stalled executor) are not integrated at once
_MIN_PROGRESS = 1e-3  # m; a blocked step shorter than this counts as no progress
_ODOM_FRAME = 'odom'
_BASE_FRAME = 'base_link'
_MAP_FRAME = 'map'
_CHARGE_CURRENT = 2.0  # A, reported while charging
_DISCHARGE_CURRENT = -1.0  # A, reported otherwise


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


class BtStatus(str, enum.Enum):
    """Behavior-tree node statuses reported on ``behavior_tree_log``."""

    IDLE = 'IDLE'
    """The node is not running."""

    RUNNING = 'RUNNING'
    """The node was ticked and has not finished."""

    SUCCESS = 'SUCCESS'
    """The node finished successfully."""

    FAILURE = 'FAILURE'
    """The node finished unsuccessfully."""


class RecoveryBehavior(enum.Enum):
    """Recoveries the navigator cycles through while stuck; values are the BT node names."""

    SPIN = 'Spin'
    """Turn in place, through the ``spin`` action."""

    BACKUP = 'BackUp'
    """Drive backwards a little, through the ``backup`` action."""

    WAIT = 'Wait'
    """Wait a moment, through the ``wait`` action."""


RECOVERY_CYCLE: Tuple[RecoveryBehavior, ...] = (
    RecoveryBehavior.SPIN, RecoveryBehavior.BACKUP, RecoveryBehavior.WAIT)
_BT_UIDS = {RecoveryBehavior.SPIN: 1, RecoveryBehavior.BACKUP: 2, RecoveryBehavior.WAIT: 3}


class BehaviorOutcome(enum.Enum):
    """How a behavior (or its motion) ended."""

    RUNNING = enum.auto()
    """Not finished yet."""

    SUCCEEDED = enum.auto()
    """The behavior did what was asked."""

    TIMEOUT = enum.auto()
    """The time allowance ran out first."""

    BLOCKED = enum.auto()
    """A blocked area is in the way."""

    PREEMPTED = enum.auto()
    """Another behavior took over the base."""

    CANCELED = enum.auto()
    """The client canceled the goal."""

    SHUTDOWN = enum.auto()
    """The node is being destroyed."""


class MotionKind(enum.Enum):
    """What a behavior makes the base do."""

    ROTATE = enum.auto()
    """Turn in place by a signed angle."""

    DRIVE = enum.auto()
    """Drive along the heading by a signed distance."""

    TELEOP = enum.auto()
    """Follow ``cmd_vel_teleop`` velocity commands."""


@dataclass(frozen=True)
class _ParamSpec:
    """One declared parameter: default, description, units and optional range."""

    name: str
    default: Any
    description: str
    units: str = ''
    low: Optional[float] = None
    high: Optional[float] = None
    constraints: str = ''

    def descriptor(self) -> ParameterDescriptor:
        text = f'{self.description} Units: {self.units or "none"}.'
        descriptor = ParameterDescriptor(
            name=self.name, description=text, additional_constraints=self.constraints)
        if self.low is not None and isinstance(self.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=self.low, to_value=self.high, step=0.0)]
        elif self.low is not None and isinstance(self.default, int):
            descriptor.integer_range = [
                IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)]
        return descriptor


_FAULT_VALUES = ', '.join(f.value for f in Fault)
_PARAM_SPECS: Tuple[_ParamSpec, ...] = (
    _ParamSpec('speed', 1.0, 'Linear speed while navigating.', 'm/s', 0.01, 10.0),
    _ParamSpec('angular_speed', 1.5, 'Turn rate while navigating and spinning.', 'rad/s',
               0.01, 10.0),
    _ParamSpec('odom_rate', 10.0, 'Rate of the physics update and of odom.', 'Hz', 1.0, 100.0),
    _ParamSpec('battery', 1.0, 'Battery charge at start; setting it overwrites the current '
               'charge.', 'fraction of full charge, 0..1', 0.0, 1.0),
    _ParamSpec('drain_per_meter', 0.002, 'Battery used per metre driven.',
               'fraction of full charge per m', 0.0, 1.0),
    _ParamSpec('drain_idle_per_second', 0.0001, 'Battery used per second, moving or not.',
               'fraction of full charge per s', 0.0, 1.0),
    _ParamSpec('charge_per_second', 0.01, 'Battery gained per second while docked.',
               'fraction of full charge per s', 0.0, 1.0),
    _ParamSpec('dock_x', 0.0, 'Dock x; the robot charges within 0.3 m of the dock while not '
               'navigating (default: start x).', 'm'),
    _ParamSpec('dock_y', 0.0, 'Dock y (default: start y).', 'm'),
    _ParamSpec('fault', Fault.NONE.value, 'Injected fault: none (healthy), fail_next_goal (next '
               'navigation goal aborts, then resets), stuck (no progress; recoveries fail), '
               'offline (off the network).', constraints=f'One of: {_FAULT_VALUES}.'),
    _ParamSpec('blocked_areas', [], 'Axis-aligned rectangles the robot cannot enter.', 'm',
               constraints="Each entry 'x_min,y_min,x_max,y_max'."),
    _ParamSpec('recovery_interval', 1.0, 'Time between recoveries while stuck; also each '
               "recovery's time allowance.", 's', 0.01, 60.0),
    _ParamSpec('max_recoveries', 6, 'Recoveries per goal before navigation aborts with '
               f'{FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS}.', 'count', 0, 1000),
    _ParamSpec('goals_received', 0, 'Navigation goals accepted so far; maintained by the node, '
               'set requests from outside are rejected.', 'count', 0, 2 ** 31 - 1),
    _ParamSpec('software_version', '1.0.0', 'Software version the robot reports.',
               constraints='Free text, e.g. semantic version 1.2.3.'),
)
#: Names of all parameters SimRobot declares (and accepts as constructor keywords).
PARAMETER_NAMES: Tuple[str, ...] = tuple(spec.name for spec in _PARAM_SPECS)


@dataclass(frozen=True)
class _Config:
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


class _Motion:
    """A behavior's command to the base, advanced by the physics timer (under the lock)."""

    def __init__(self, kind: MotionKind, amount: float, speed: float,
                 wake: threading.Event) -> None:
        self.kind = kind
        self.remaining = amount  # signed rad (ROTATE) or m (DRIVE); unused for TELEOP
        self.speed = speed
        self.progress = 0.0  # rad or m covered so far
        self.outcome = BehaviorOutcome.RUNNING
        self.wake = wake


class _Mission:
    """An active navigation goal: the poses left to reach, advanced by the physics timer."""

    def __init__(self, goal_handle: ServerGoalHandle, targets: Sequence[Pose2D], frame_id: str,
                 start: Time, wake: threading.Event) -> None:
        self.goal_handle = goal_handle
        self.targets = list(targets)
        self.index = 0
        self.frame_id = frame_id or _MAP_FRAME
        self.start = start
        self.wake = wake
        self.superseded = False
        self.arrived = False
        self.blocked = False
        self.recoveries = 0


class _RecoveryCall:
    """One recovery behavior requested from the node's own behavior server."""

    def __init__(self, behavior: RecoveryBehavior, client: ActionClient, goal: Any,
                 wake: threading.Event, deadline: float) -> None:
        self.behavior = behavior
        self.deadline = deadline
        self.error = ''
        self._wake = wake
        self._goal_handle = None
        self._result_future: Optional[Future] = None
        self._send_future: Optional[Future] = None
        if client.server_is_ready() or client.wait_for_server(timeout_sec=BEHAVIOR_SERVER_WAIT):
            self._send_future = client.send_goal_async(goal)
            self._send_future.add_done_callback(self._on_done)
        else:
            self.error = f'{behavior.value} server is not available'

    def _on_done(self, _future: Future) -> None:
        self._wake.set()

    def poll(self, now: float) -> Optional[bool]:
        """Return None while running, else whether the recovery succeeded."""
        if self._send_future is None:
            return False
        if self._result_future is None:
            if not self._send_future.done():
                return self._expire(now)
            if self._send_future.exception() is not None:
                self.error = str(self._send_future.exception())
                return False
            handle = self._send_future.result()
            if handle is None or not handle.accepted:
                self.error = 'goal rejected'
                return False
            self._goal_handle = handle
            self._result_future = handle.get_result_async()
            self._result_future.add_done_callback(self._on_done)
        if not self._result_future.done():
            return self._expire(now)
        response = self._result_future.result()
        if response is None:
            self.error = 'no result'
            return False
        self.error = response.result.error_msg
        return (response.status == GoalStatus.STATUS_SUCCEEDED
                and response.result.error_code == 0)

    def _expire(self, now: float) -> Optional[bool]:
        if now <= self.deadline:
            return None
        self.error = 'no answer in time'
        self.cancel()
        return False

    def cancel(self) -> None:
        """Ask the behavior server to cancel the recovery if it is still running."""
        if self._goal_handle is not None and (
                self._result_future is None or not self._result_future.done()):
            self._goal_handle.cancel_goal_async()


def _duration_msg(seconds: float) -> DurationMsg:
    return Duration(nanoseconds=int(max(0.0, seconds) * 1e9)).to_msg()


def _duration_seconds(msg: DurationMsg) -> float:
    return msg.sec + msg.nanosec * 1e-9


def _pose_from_msg(msg: PoseStamped) -> Pose2D:
    p, q = msg.pose.position, msg.pose.orientation
    return Pose2D(p.x, p.y, physics.quaternion_to_yaw(q.x, q.y, q.z, q.w))


def _quaternion(yaw: float) -> Quaternion:
    x, y, z, w = physics.yaw_to_quaternion(yaw)
    return Quaternion(x=x, y=y, z=z, w=w)


class SimRobot(Node):
    """A simulated Nav2 robot base: node ``/<robot_id>/sim``.

    ``SimRobot(robot_id, x, y, theta, context=None, **overrides)`` starts the robot at
    (x, y) m with heading theta rad, docked there unless ``dock_x``/``dock_y`` say otherwise.
    ``overrides`` set initial values of any parameter in :data:`PARAMETER_NAMES`; invalid
    values raise rclpy's InvalidParameterValueException, unknown names TypeError.

    Spin it in a MultiThreadedExecutor (:data:`RECOMMENDED_EXECUTOR_THREADS` threads) and call
    :meth:`destroy_node` when done: it ends running goals before releasing the node.
    """

    def __init__(self, robot_id: str, x: float = 0.0, y: float = 0.0, theta: float = 0.0, *,
                 context: Optional[Context] = None, **overrides: Any) -> None:
        unknown = sorted(set(overrides) - set(PARAMETER_NAMES))
        if unknown:
            raise TypeError(f'unknown SimRobot parameter(s): {", ".join(unknown)}')
        super().__init__(NODE_NAME, namespace=robot_id, context=context,
                         parameter_overrides=self._overrides(overrides))
        self._robot_id = robot_id
        self._lock = threading.Lock()
        self._counter_lock = threading.Lock()
        self._hook_lock = threading.RLock()  # a hook may reinstall itself
        self._internal = threading.local()
        self._closing = threading.Event()
        self._active_cond = threading.Condition()
        self._active_goals = 0
        self._wakers: Dict[bytes, threading.Event] = {}

        self.add_on_set_parameters_callback(self._validate_parameters)
        try:
            with self._internal_update():
                self._declare_parameters(float(x), float(y))
        except Exception:
            super().destroy_node()  # do not leak the node when an override is invalid
            raise
        self._config = self._read_config()

        self._pose = Pose2D(float(x), float(y), physics.normalize_angle(float(theta)))
        self._linear_velocity = 0.0
        self._angular_velocity = 0.0
        self._battery = float(self.get_parameter('battery').value)
        self._charging = False
        self._mission: Optional[_Mission] = None
        self._motion: Optional[_Motion] = None
        self._teleop_command = (0.0, 0.0)
        self._teleop_stamp: Optional[Time] = None
        self._network_up = self._config.fault is not Fault.OFFLINE
        self._network_hook: Optional[Callable[[bool], None]] = None
        self._last_tick = self.get_clock().now()

        self._actions_group = ReentrantCallbackGroup()
        timers_group = MutuallyExclusiveCallbackGroup()
        self._odom_pub = self.create_publisher(Odometry, 'odom', 10)
        self._battery_pub = self.create_publisher(BatteryState, 'battery_state', 10)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, 'diagnostics', 10)
        self._bt_log_pub = self.create_publisher(BehaviorTreeLog, 'behavior_tree_log', 10)
        self.create_subscription(Twist, 'cmd_vel_teleop', self._on_teleop_command, 10,
                                 callback_group=timers_group)
        self.create_subscription(Empty, 'preempt_teleop', self._on_preempt_teleop, 10,
                                 callback_group=timers_group)
        self._physics_timer = self.create_timer(
            1.0 / self._config.odom_rate, self._on_physics_tick, callback_group=timers_group)
        self._status_timer = self.create_timer(
            STATUS_PERIOD, self._on_status_tick, callback_group=timers_group)

        self._action_servers = [
            self._action_server(NavigateToPose, 'navigate_to_pose',
                                self._execute_navigate_to_pose, self._on_navigate_to_pose_goal),
            self._action_server(NavigateThroughPoses, 'navigate_through_poses',
                                self._execute_navigate_through_poses,
                                self._on_navigate_through_poses_goal),
            self._action_server(Spin, 'spin', self._execute_spin),
            self._action_server(BackUp, 'backup', self._execute_backup),
            self._action_server(Wait, 'wait', self._execute_wait),
            self._action_server(DriveOnHeading, 'drive_on_heading',
                                self._execute_drive_on_heading),
            self._action_server(AssistedTeleop, 'assisted_teleop',
                                self._execute_assisted_teleop),
        ]
        self._recovery_clients = {
            RecoveryBehavior.SPIN: ActionClient(self, Spin, 'spin',
                                                callback_group=self._actions_group),
            RecoveryBehavior.BACKUP: ActionClient(self, BackUp, 'backup',
                                                  callback_group=self._actions_group),
            RecoveryBehavior.WAIT: ActionClient(self, Wait, 'wait',
                                                callback_group=self._actions_group),
        }
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.get_logger().info(
            f'Simulated robot {robot_id} at ({self._pose.x:.2f}, {self._pose.y:.2f}), '
            f'fault={self._config.fault.value}')

    # ------------------------------------------------------------------ public API

    @property
    def robot_id(self) -> str:
        """The robot id, which is also the node's namespace."""
        return self._robot_id

    @property
    def pose(self) -> Pose2D:
        """The current simulated pose in the odom frame."""
        with self._lock:
            return self._pose

    @property
    def battery_level(self) -> float:
        """The current battery charge, 0..1."""
        with self._lock:
            return self._battery

    def set_network_hook(self, callback: Optional[Callable[[bool], None]]) -> None:
        """Install (or with None remove) the network hook.

        The hook is called with False when ``fault`` becomes ``offline`` and with True when it
        leaves ``offline``, from the thread that set the parameter. If the robot is already
        offline when a hook is installed, the hook is called with False at once. Without a
        hook the transitions are only logged.
        """
        with self._hook_lock:
            self._network_hook = callback
            if callback is not None and not self._network_up:
                self._call_network_hook(False)

    def destroy_node(self) -> None:
        """End running goals (they abort), wait for them briefly, then destroy the node."""
        self._closing.set()
        with self._active_cond:
            for wake in self._wakers.values():
                wake.set()
            finished = self._active_cond.wait_for(
                lambda: self._active_goals == 0, timeout=SHUTDOWN_TIMEOUT)
        if not finished:
            self.get_logger().warning('Some goals were still running at shutdown')
        for client in self._recovery_clients.values():
            client.destroy()
        for server in self._action_servers:
            server.destroy()
        super().destroy_node()

    # ------------------------------------------------------------------ parameters

    @staticmethod
    def _overrides(values: Dict[str, Any]) -> List[Parameter]:
        defaults = {spec.name: spec.default for spec in _PARAM_SPECS}
        overrides = []
        for name, value in values.items():
            default = defaults[name]
            if isinstance(default, float) and isinstance(value, int):
                value = float(value)
            elif isinstance(default, list):
                value = [str(v) for v in value]
                if not value:
                    continue  # the default; an empty list would be typed as a byte array
            overrides.append(Parameter(name, value=value))
        return overrides

    def _declare_parameters(self, x: float, y: float) -> None:
        start = {'dock_x': x, 'dock_y': y}
        for spec in _PARAM_SPECS:
            if isinstance(spec.default, list):
                declared = self.declare_parameter(
                    spec.name, Parameter.Type.STRING_ARRAY, spec.descriptor())
                if declared.type_ == Parameter.Type.NOT_SET:
                    self.set_parameters([Parameter(spec.name, Parameter.Type.STRING_ARRAY, [])])
            else:
                self.declare_parameter(
                    spec.name, start.get(spec.name, spec.default), spec.descriptor())

    @contextlib.contextmanager
    def _internal_update(self) -> Iterator[None]:
        """Mark parameter sets made by this thread as the node's own (nesting allowed)."""
        previous = getattr(self._internal, 'active', False)
        self._internal.active = True
        try:
            yield
        finally:
            self._internal.active = previous

    def _validate_parameters(self, parameters: List[Parameter]) -> SetParametersResult:
        for param in parameters:
            if param.name == 'fault':
                try:
                    Fault(param.value)
                except ValueError:
                    return SetParametersResult(
                        successful=False,
                        reason=f'fault must be one of {_FAULT_VALUES}; got {param.value!r}')
            elif param.name == 'blocked_areas':
                for index, entry in enumerate(param.value or []):
                    try:
                        physics.parse_area(entry)
                    except ValueError as error:
                        return SetParametersResult(
                            successful=False,
                            reason=f'blocked_areas entry {index} {entry!r} is malformed: '
                                   f"{error}; expected 'x_min,y_min,x_max,y_max' in metres")
            elif param.name == 'goals_received' and not getattr(self._internal, 'active', False):
                return SetParametersResult(
                    successful=False,
                    reason='goals_received is maintained by the node (it counts accepted '
                           'navigation goals) and cannot be set')
        return SetParametersResult(successful=True)

    def _read_config(self) -> _Config:
        def value(name: str) -> Any:
            return self.get_parameter(name).value

        return _Config(
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
        )

    def _apply_parameters(self, parameters: List[Parameter]) -> None:
        names = {param.name for param in parameters}
        config = self._read_config()
        with self._lock:
            previous = self._config
            self._config = config
            if 'battery' in names:
                self._battery = float(self.get_parameter('battery').value)
            wakes = [m.wake for m in (self._mission, self._motion) if m is not None]
        for wake in wakes:
            wake.set()
        if 'odom_rate' in names and config.odom_rate != previous.odom_rate:
            self._physics_timer.timer_period_ns = int(1e9 / config.odom_rate)
        if config.fault is not previous.fault:
            self.get_logger().info(
                f'fault: {previous.fault.value} -> {config.fault.value}')
            with self._hook_lock:
                network_up = config.fault is not Fault.OFFLINE
                if network_up != self._network_up:
                    self._network_up = network_up
                    self._call_network_hook(network_up)

    def _call_network_hook(self, up: bool) -> None:
        """Tell the hook about a network transition; call with _hook_lock held."""
        state = 'back online' if up else 'offline'
        hook = self._network_hook
        if hook is None:
            self.get_logger().info(f'Robot is {state} (no network hook installed)')
            return
        self.get_logger().info(f'Robot is {state}; calling the network hook')
        try:
            hook(up)
        except Exception as error:  # a faulty hook must not break the parameter service
            self.get_logger().error(f'Network hook raised {error!r}')

    def _set_own_parameter(self, name: str, value: Any) -> None:
        with self._internal_update():
            result = self.set_parameters([Parameter(name, value=value)])[0]
        if not result.successful:
            self.get_logger().error(f'Could not set {name}={value!r}: {result.reason}')

    def _count_accepted_goal(self) -> None:
        with self._counter_lock:
            count = int(self.get_parameter('goals_received').value) + 1
            self._set_own_parameter('goals_received', count)

    # ------------------------------------------------------------------ physics and status

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_physics_tick(self) -> None:
        now = self.get_clock().now()
        with self._lock:
            dt = min(_MAX_PHYSICS_DT, max(0.0, (now - self._last_tick).nanoseconds * 1e-9))
            self._last_tick = now
            config = self._config
            can_move = config.fault is not Fault.STUCK and self._battery > 0.0
            step = None
            if self._motion is not None:
                step = self._advance_motion(self._motion, config, dt, can_move, now)
            elif self._mission is not None and not self._mission.arrived and can_move:
                step = self._advance_mission(self._mission, config, dt)
            if step is not None:
                self._pose = step.pose
            linear = step.linear if step is not None else 0.0
            angular = step.angular if step is not None else 0.0
            self._linear_velocity = linear / dt if dt > 0.0 else 0.0
            self._angular_velocity = angular / dt if dt > 0.0 else 0.0
            at_dock = math.hypot(self._pose.x - config.dock_x,
                                 self._pose.y - config.dock_y) <= CHARGING_RADIUS
            self._charging = at_dock and self._mission is None and self._motion is None
            if self._charging:
                self._battery = physics.charge_battery(
                    self._battery, dt, config.charge_per_second)
            else:
                self._battery = physics.drain_battery(
                    self._battery, abs(linear), dt, config.drain_per_meter,
                    config.drain_idle_per_second)
            odom = self._odometry(now)
        self._odom_pub.publish(odom)

    def _advance_mission(self, mission: _Mission, config: _Config,
                         dt: float) -> physics.MotionStep:
        """Advance navigation one step; call with the lock held."""
        last = mission.index == len(mission.targets) - 1
        step = physics.step_to_pose(
            self._pose, mission.targets[mission.index], config.speed, config.angular_speed, dt,
            align_heading=last, areas=config.areas)
        if step.blocked and step.distance < _MIN_PROGRESS:
            mission.blocked = True
        elif step.distance >= _MIN_PROGRESS:
            mission.blocked = False
        if step.reached:
            if last:
                mission.arrived = True
                mission.wake.set()
            else:
                mission.index += 1
        return step

    def _advance_motion(self, motion: _Motion, config: _Config, dt: float, can_move: bool,
                        now: Time) -> Optional[physics.MotionStep]:
        """Advance a behavior's motion one step; call with the lock held."""
        if not can_move:
            return None
        if motion.kind is MotionKind.ROTATE:
            step = physics.step_rotate(self._pose, motion.remaining, motion.speed, dt)
            motion.remaining -= step.angular
            motion.progress += abs(step.angular)
        elif motion.kind is MotionKind.DRIVE:
            step = physics.step_straight(
                self._pose, motion.remaining, motion.speed, dt, config.areas)
            motion.remaining -= step.linear
            motion.progress += step.distance
        else:
            linear, angular = self._teleop_command
            fresh = self._teleop_stamp is not None and (
                (now - self._teleop_stamp).nanoseconds * 1e-9 <= TELEOP_COMMAND_TIMEOUT)
            if not fresh:
                linear, angular = 0.0, 0.0
            step = physics.step_velocity(self._pose, linear, angular, dt, config.areas)
            motion.progress += step.distance
            return step
        if step.reached:
            self._finish_motion(motion, BehaviorOutcome.SUCCEEDED)
        elif step.blocked:
            self._finish_motion(motion, BehaviorOutcome.BLOCKED)
        return step

    def _finish_motion(self, motion: _Motion, outcome: BehaviorOutcome) -> None:
        """Record how a motion ended and release the base; call with the lock held."""
        motion.outcome = outcome
        if self._motion is motion:
            self._motion = None
        motion.wake.set()

    def _odometry(self, now: Time) -> Odometry:
        msg = Odometry()
        msg.header.stamp = now.to_msg()
        msg.header.frame_id = _ODOM_FRAME
        msg.child_frame_id = _BASE_FRAME
        msg.pose.pose.position.x = self._pose.x
        msg.pose.pose.position.y = self._pose.y
        msg.pose.pose.orientation = _quaternion(self._pose.theta)
        msg.twist.twist.linear.x = self._linear_velocity
        msg.twist.twist.angular.z = self._angular_velocity
        return msg

    def _on_status_tick(self) -> None:
        now = self.get_clock().now()
        with self._lock:
            level, charging, config = self._battery, self._charging, self._config
            navigating = self._mission is not None
            blocked = self._mission is not None and self._mission.blocked
            behaving = self._motion is not None
        voltage = physics.battery_voltage(level)
        battery = BatteryState()
        battery.header.stamp = now.to_msg()
        battery.header.frame_id = _BASE_FRAME
        battery.voltage = voltage
        battery.temperature = math.nan
        battery.current = _CHARGE_CURRENT if charging else _DISCHARGE_CURRENT
        battery.charge = math.nan
        battery.capacity = math.nan
        battery.design_capacity = math.nan
        battery.percentage = level
        battery.power_supply_status = (BatteryState.POWER_SUPPLY_STATUS_CHARGING if charging
                                       else BatteryState.POWER_SUPPLY_STATUS_DISCHARGING)
        battery.power_supply_health = (BatteryState.POWER_SUPPLY_HEALTH_DEAD if level <= 0.0
                                       else BatteryState.POWER_SUPPLY_HEALTH_GOOD)
        battery.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LION
        battery.present = True
        battery.location = 'base'
        battery.serial_number = f'{self._robot_id}-battery'
        self._battery_pub.publish(battery)

        if level < BATTERY_ERROR_LEVEL:
            battery_level, battery_text = DiagnosticStatus.ERROR, 'Battery critically low'
        elif level < BATTERY_WARN_LEVEL:
            battery_level, battery_text = DiagnosticStatus.WARN, 'Battery low'
        else:
            battery_level, battery_text = DiagnosticStatus.OK, 'Battery OK'
        if level <= 0.0:
            motors_level, motors_text = DiagnosticStatus.ERROR, 'Motors unpowered'
        elif config.fault is Fault.STUCK or blocked:
            motors_level, motors_text = DiagnosticStatus.WARN, 'Robot is stuck'
        elif navigating or behaving:
            motors_level, motors_text = DiagnosticStatus.OK, 'Moving'
        else:
            motors_level, motors_text = DiagnosticStatus.OK, 'Idle'
        diagnostics = DiagnosticArray()
        diagnostics.header.stamp = now.to_msg()
        diagnostics.status = [
            DiagnosticStatus(
                level=motors_level, name='motors', message=motors_text,
                hardware_id=self._robot_id,
                values=[KeyValue(key='fault', value=config.fault.value),
                        KeyValue(key='navigating', value=str(navigating).lower())]),
            DiagnosticStatus(
                level=battery_level, name='battery', message=battery_text,
                hardware_id=self._robot_id,
                values=[KeyValue(key='percentage', value=f'{level:.4f}'),
                        KeyValue(key='voltage', value=f'{voltage:.2f}'),
                        KeyValue(key='charging', value=str(charging).lower())]),
        ]
        self._diagnostics_pub.publish(diagnostics)

    def _on_teleop_command(self, msg: Twist) -> None:
        with self._lock:
            self._teleop_command = (msg.linear.x, msg.angular.z)
            self._teleop_stamp = self.get_clock().now()

    def _on_preempt_teleop(self, _msg: Empty) -> None:
        with self._lock:
            motion = self._motion
            if motion is not None and motion.kind is MotionKind.TELEOP:
                self._finish_motion(motion, BehaviorOutcome.SUCCEEDED)

    # ------------------------------------------------------------------ goal bookkeeping

    def _action_server(self, action_type: Any, name: str, execute: Callable[..., Any],
                       goal_callback: Optional[Callable[[Any], GoalResponse]] = None
                       ) -> ActionServer:
        return ActionServer(
            self, action_type, name, execute, callback_group=self._actions_group,
            goal_callback=goal_callback or self._on_behavior_goal,
            cancel_callback=self._on_cancel)

    @contextlib.contextmanager
    def _tracked(self, goal_handle: ServerGoalHandle) -> Iterator[threading.Event]:
        """Register a running goal: yields the event that wakes its execute loop."""
        key = bytes(goal_handle.goal_id.uuid)
        wake = threading.Event()
        with self._active_cond:
            self._wakers[key] = wake
            self._active_goals += 1
        try:
            yield wake
        finally:
            with self._active_cond:
                self._wakers.pop(key, None)
                self._active_goals -= 1
                self._active_cond.notify_all()

    def _on_cancel(self, goal_handle: ServerGoalHandle) -> CancelResponse:
        with self._active_cond:
            wake = self._wakers.get(bytes(goal_handle.goal_id.uuid))
        if wake is not None:
            wake.set()
        return CancelResponse.ACCEPT

    def _on_behavior_goal(self, _goal: Any) -> GoalResponse:
        return GoalResponse.REJECT if self._closing.is_set() else GoalResponse.ACCEPT

    def _should_stop(self) -> bool:
        return self._closing.is_set() or not self.context.ok()

    def _terminate(self, goal_handle: ServerGoalHandle, state: int) -> None:
        """Move a goal to SUCCEEDED, ABORTED or CANCELED, tolerating a dying context."""
        try:
            if state == GoalStatus.STATUS_SUCCEEDED:
                goal_handle.succeed()
            elif state == GoalStatus.STATUS_CANCELED:
                goal_handle.canceled()
            else:
                goal_handle.abort()
        except RCLError as error:
            if self.context.ok():
                self.get_logger().warning(f'Could not report the goal state: {error}')
            else:  # expected when rclpy was shut down (e.g. SIGTERM) before the node
                self.get_logger().debug(f'Goal state not reported after shutdown: {error}')

    # ------------------------------------------------------------------ navigation

    def _on_navigate_to_pose_goal(self, goal: NavigateToPose.Goal) -> GoalResponse:
        return self._accept_navigation([goal.pose])

    def _on_navigate_through_poses_goal(
            self, goal: NavigateThroughPoses.Goal) -> GoalResponse:
        return self._accept_navigation(list(goal.poses))

    def _accept_navigation(self, poses: List[PoseStamped]) -> GoalResponse:
        if self._closing.is_set():
            return GoalResponse.REJECT
        if not poses:
            self.get_logger().warning('Rejecting a navigation goal without poses')
            return GoalResponse.REJECT
        for pose in poses:
            p, q = pose.pose.position, pose.pose.orientation
            if not all(math.isfinite(v) for v in (p.x, p.y, q.x, q.y, q.z, q.w)):
                self.get_logger().warning('Rejecting a navigation goal with a non-finite pose')
                return GoalResponse.REJECT
        self._count_accepted_goal()
        return GoalResponse.ACCEPT

    def _execute_navigate_to_pose(
            self, goal_handle: ServerGoalHandle) -> NavigateToPose.Result:
        pose = goal_handle.request.pose
        return self._navigate(goal_handle, NavigateToPose, [pose])

    def _execute_navigate_through_poses(
            self, goal_handle: ServerGoalHandle) -> NavigateThroughPoses.Result:
        return self._navigate(goal_handle, NavigateThroughPoses,
                              list(goal_handle.request.poses))

    def _navigate(self, goal_handle: ServerGoalHandle, action: Any,
                  poses: List[PoseStamped]) -> Any:
        result = action.Result()
        targets = [_pose_from_msg(pose) for pose in poses]
        with self._tracked(goal_handle) as wake:
            mission = _Mission(goal_handle, targets, poses[0].header.frame_id,
                               self.get_clock().now(), wake)
            with self._lock:
                if self._mission is not None:
                    self._mission.superseded = True
                    self._mission.wake.set()
                self._mission = mission
            try:
                code, message, state = self._run_mission(mission, action)
            finally:
                with self._lock:
                    if self._mission is mission:
                        self._mission = None
            result.error_code = code
            result.error_msg = message
            summary = f'Navigation goal ended: state={state} code={code} {message}'.rstrip()
            if code == NAV_ERROR_NONE:
                self.get_logger().info(summary)
            else:
                self.get_logger().warning(summary)
            self._terminate(goal_handle, state)
        return result

    def _run_mission(self, mission: _Mission, action: Any) -> Tuple[int, str, int]:
        """Drive a mission to its end; returns (error_code, error_msg, terminal state)."""
        aborted = GoalStatus.STATUS_ABORTED
        with self._lock:
            config = self._config
        if config.fault is Fault.FAIL_NEXT_GOAL:
            self._set_own_parameter('fault', Fault.NONE.value)
            return (COMPUTE_PATH_NO_VALID_PATH,
                    'Injected fault fail_next_goal: no valid path to the goal '
                    '(the fault has been reset to none)', aborted)
        for index, target in enumerate(mission.targets):
            area = physics.point_in_areas(target.x, target.y, config.areas)
            if area is not None:
                return (COMPUTE_PATH_GOAL_OCCUPIED,
                        f'Goal pose {index} ({target.x:.2f}, {target.y:.2f}) lies in blocked '
                        f'area {area.x_min:g},{area.y_min:g},{area.x_max:g},{area.y_max:g}',
                        aborted)

        goal_handle = mission.goal_handle
        recovery: Optional[_RecoveryCall] = None
        stuck_since: Optional[float] = None
        last_recovery_start: Optional[float] = None
        next_feedback = 0.0
        try:
            while True:
                mission.wake.clear()
                if self._should_stop():
                    return NAV_ERROR_NONE, 'The robot is shutting down', aborted
                with self._lock:
                    config = self._config
                    superseded, arrived = mission.superseded, mission.arrived
                    stuck = (config.fault is Fault.STUCK or mission.blocked
                             or self._battery <= 0.0)
                if superseded:
                    return NAV_ERROR_NONE, 'Preempted by a newer navigation goal', aborted
                if goal_handle.is_cancel_requested:
                    return NAV_ERROR_NONE, '', GoalStatus.STATUS_CANCELED
                if arrived:
                    self._publish_navigation_feedback(mission, action)
                    return NAV_ERROR_NONE, '', GoalStatus.STATUS_SUCCEEDED

                now = self._now_s()
                if recovery is not None:
                    succeeded = recovery.poll(now)
                    if succeeded is not None:
                        self._finish_recovery(recovery, succeeded)
                        recovery = None
                wait = FEEDBACK_PERIOD
                if not stuck:
                    stuck_since = None
                elif recovery is None:
                    if stuck_since is None:
                        stuck_since = now
                    since = stuck_since if last_recovery_start is None else max(
                        stuck_since, last_recovery_start)
                    due = since + config.recovery_interval
                    if now >= due:
                        if mission.recoveries >= config.max_recoveries:
                            return (FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS,
                                    f'Failed to make progress; gave up after '
                                    f'{mission.recoveries} recoveries', aborted)
                        recovery = self._start_recovery(mission, config, now)
                        last_recovery_start = now
                        next_feedback = 0.0
                    else:
                        wait = min(wait, due - now)
                if now >= next_feedback:
                    self._publish_navigation_feedback(mission, action)
                    next_feedback = now + FEEDBACK_PERIOD
                mission.wake.wait(timeout=max(0.01, wait))
        finally:
            if recovery is not None and self.context.ok():
                recovery.cancel()
                self._finish_recovery(recovery, False)

    def _start_recovery(self, mission: _Mission, config: _Config, now: float) -> _RecoveryCall:
        behavior = RECOVERY_CYCLE[mission.recoveries % len(RECOVERY_CYCLE)]
        mission.recoveries += 1
        interval = config.recovery_interval
        if behavior is RecoveryBehavior.SPIN:
            goal = Spin.Goal(target_yaw=min(math.pi / 2.0, 0.8 * config.angular_speed * interval),
                             time_allowance=_duration_msg(interval))
        elif behavior is RecoveryBehavior.BACKUP:
            speed = 0.25 * config.speed
            goal = BackUp.Goal(target=Point(x=min(0.15, 0.8 * speed * interval)), speed=speed,
                               time_allowance=_duration_msg(interval))
        else:
            goal = Wait.Goal(time=_duration_msg(0.5 * interval))
        self.get_logger().info(
            f'Robot stuck: recovery {mission.recoveries} ({behavior.value})')
        self._publish_bt_change(behavior, BtStatus.IDLE, BtStatus.RUNNING)
        return _RecoveryCall(behavior, self._recovery_clients[behavior], goal, mission.wake,
                             deadline=now + interval + RECOVERY_GRACE)

    def _finish_recovery(self, recovery: _RecoveryCall, succeeded: bool) -> None:
        status = BtStatus.SUCCESS if succeeded else BtStatus.FAILURE
        if not succeeded:
            self.get_logger().info(
                f'Recovery {recovery.behavior.value} failed: {recovery.error}')
        self._publish_bt_change(recovery.behavior, BtStatus.RUNNING, status)

    def _publish_bt_change(self, behavior: RecoveryBehavior, previous: BtStatus,
                           current: BtStatus) -> None:
        if not self.context.ok():
            return
        stamp = self.get_clock().now().to_msg()
        change = BehaviorTreeStatusChange(
            timestamp=stamp, node_name=behavior.value, uid=_BT_UIDS[behavior],
            previous_status=previous.value, current_status=current.value)
        self._bt_log_pub.publish(BehaviorTreeLog(timestamp=stamp, event_log=[change]))

    def _publish_navigation_feedback(self, mission: _Mission, action: Any) -> None:
        now = self.get_clock().now()
        with self._lock:
            pose, speed = self._pose, self._config.speed
            remaining_targets = mission.targets[mission.index:]
            recoveries = mission.recoveries
        points = [(pose.x, pose.y)] + [(t.x, t.y) for t in remaining_targets]
        distance = physics.path_length(points)
        feedback = action.Feedback()
        feedback.current_pose.header.stamp = now.to_msg()
        feedback.current_pose.header.frame_id = mission.frame_id
        feedback.current_pose.pose.position.x = pose.x
        feedback.current_pose.pose.position.y = pose.y
        feedback.current_pose.pose.orientation = _quaternion(pose.theta)
        feedback.navigation_time = Duration(
            nanoseconds=max(0, (now - mission.start).nanoseconds)).to_msg()
        feedback.estimated_time_remaining = _duration_msg(distance / speed)
        feedback.number_of_recoveries = min(recoveries, 2 ** 15 - 1)
        feedback.distance_remaining = distance
        if hasattr(feedback, 'number_of_poses_remaining'):
            feedback.number_of_poses_remaining = min(len(remaining_targets), 2 ** 15 - 1)
        mission.goal_handle.publish_feedback(feedback)

    # ------------------------------------------------------------------ behaviors

    def _run_motion(self, goal_handle: ServerGoalHandle, motion: _Motion, allowance: float,
                    feedback: Callable[[_Motion, float], Any]) -> Tuple[BehaviorOutcome, float]:
        """Hand the base to ``motion`` until it ends; returns (outcome, elapsed seconds).

        A motion already running is preempted. ``allowance`` <= 0 means no time limit.
        """
        start = self._now_s()
        with self._lock:
            if self._motion is not None:
                self._finish_motion(self._motion, BehaviorOutcome.PREEMPTED)
            self._motion = motion
        outcome = BehaviorOutcome.RUNNING
        try:
            while outcome is BehaviorOutcome.RUNNING:
                motion.wake.clear()
                elapsed = self._now_s() - start
                with self._lock:
                    outcome = motion.outcome
                if outcome is not BehaviorOutcome.RUNNING:
                    break
                if self._should_stop():
                    outcome = BehaviorOutcome.SHUTDOWN
                elif goal_handle.is_cancel_requested:
                    outcome = BehaviorOutcome.CANCELED
                elif allowance > 0.0 and elapsed >= allowance:
                    outcome = BehaviorOutcome.TIMEOUT
                else:
                    goal_handle.publish_feedback(feedback(motion, elapsed))
                    wait = FEEDBACK_PERIOD
                    if allowance > 0.0:
                        wait = min(wait, allowance - elapsed)
                    motion.wake.wait(timeout=max(0.01, wait))
        finally:
            with self._lock:
                if motion.outcome is BehaviorOutcome.RUNNING:
                    self._finish_motion(motion, outcome)
        return outcome, self._now_s() - start

    def _finish_behavior(self, goal_handle: ServerGoalHandle, result: Any, name: str,
                         outcome: BehaviorOutcome, elapsed: float,
                         codes: Dict[BehaviorOutcome, int],
                         timeout_message: Optional[str] = None) -> Any:
        """Fill a behavior result, move the goal to its terminal state and return the result."""
        result.total_elapsed_time = _duration_msg(elapsed)
        messages = {
            BehaviorOutcome.TIMEOUT: timeout_message or (
                f'Exceeded the time allowance before finishing {name}'),
            BehaviorOutcome.BLOCKED: f'{name} stopped: a blocked area is in the way',
            BehaviorOutcome.PREEMPTED: f'{name} preempted by another behavior',
            BehaviorOutcome.SHUTDOWN: 'The robot is shutting down',
        }
        if outcome is BehaviorOutcome.SUCCEEDED:
            state = GoalStatus.STATUS_SUCCEEDED
        elif outcome is BehaviorOutcome.CANCELED:
            state = GoalStatus.STATUS_CANCELED
        else:
            state = GoalStatus.STATUS_ABORTED
            result.error_code = codes.get(outcome, codes[BehaviorOutcome.RUNNING])
            result.error_msg = messages.get(outcome, f'{name} failed')
        self._terminate(goal_handle, state)
        return result

    def _execute_spin(self, goal_handle: ServerGoalHandle) -> Spin.Result:
        goal = goal_handle.request
        with self._lock:
            angular_speed = self._config.angular_speed
        with self._tracked(goal_handle) as wake:
            motion = _Motion(MotionKind.ROTATE, goal.target_yaw, angular_speed, wake)
            outcome, elapsed = self._run_motion(
                goal_handle, motion, _duration_seconds(goal.time_allowance),
                lambda m, _t: Spin.Feedback(angular_distance_traveled=m.progress))
            return self._finish_behavior(
                goal_handle, Spin.Result(), 'spin', outcome, elapsed,
                {BehaviorOutcome.RUNNING: SPIN_UNKNOWN, BehaviorOutcome.TIMEOUT: SPIN_TIMEOUT,
                 BehaviorOutcome.BLOCKED: Spin.Result.COLLISION_AHEAD})

    def _execute_backup(self, goal_handle: ServerGoalHandle) -> BackUp.Result:
        goal = goal_handle.request
        codes = {BehaviorOutcome.RUNNING: BACKUP_UNKNOWN, BehaviorOutcome.TIMEOUT: BACKUP_TIMEOUT,
                 BehaviorOutcome.BLOCKED: BACKUP_COLLISION_AHEAD}
        if goal.target.y != 0.0 or goal.target.z != 0.0 or goal.speed == 0.0:
            return self._reject_input(goal_handle, BackUp.Result(), BACKUP_INVALID_INPUT,
                                      'backup needs target.y = target.z = 0 and a speed')
        distance = -abs(goal.target.x)
        return self._drive(goal_handle, BackUp, 'backup', distance, abs(goal.speed),
                           _duration_seconds(goal.time_allowance), codes)

    def _execute_drive_on_heading(
            self, goal_handle: ServerGoalHandle) -> DriveOnHeading.Result:
        goal = goal_handle.request
        codes = {BehaviorOutcome.RUNNING: DRIVE_ON_HEADING_UNKNOWN,
                 BehaviorOutcome.TIMEOUT: DRIVE_ON_HEADING_TIMEOUT,
                 BehaviorOutcome.BLOCKED: DRIVE_ON_HEADING_COLLISION_AHEAD}
        if (goal.target.y != 0.0 or goal.target.z != 0.0 or goal.speed == 0.0
                or goal.target.x * goal.speed < 0.0):
            return self._reject_input(
                goal_handle, DriveOnHeading.Result(), DRIVE_ON_HEADING_INVALID_INPUT,
                'drive_on_heading needs target.y = target.z = 0 and a speed with the sign '
                'of target.x')
        return self._drive(goal_handle, DriveOnHeading, 'drive_on_heading', goal.target.x,
                           abs(goal.speed), _duration_seconds(goal.time_allowance), codes)

    def _reject_input(self, goal_handle: ServerGoalHandle, result: Any, code: int,
                      message: str) -> Any:
        result.error_code = code
        result.error_msg = message
        self._terminate(goal_handle, GoalStatus.STATUS_ABORTED)
        return result

    def _drive(self, goal_handle: ServerGoalHandle, action: Any, name: str, distance: float,
               speed: float, allowance: float, codes: Dict[BehaviorOutcome, int]) -> Any:
        with self._tracked(goal_handle) as wake:
            motion = _Motion(MotionKind.DRIVE, distance, speed, wake)
            outcome, elapsed = self._run_motion(
                goal_handle, motion, allowance,
                lambda m, _t: action.Feedback(distance_traveled=m.progress))
            return self._finish_behavior(goal_handle, action.Result(), name, outcome, elapsed,
                                         codes)

    def _execute_assisted_teleop(
            self, goal_handle: ServerGoalHandle) -> AssistedTeleop.Result:
        allowance = _duration_seconds(goal_handle.request.time_allowance)
        with self._tracked(goal_handle) as wake:
            motion = _Motion(MotionKind.TELEOP, 0.0, 0.0, wake)
            outcome, elapsed = self._run_motion(
                goal_handle, motion, allowance,
                lambda _m, t: AssistedTeleop.Feedback(current_teleop_duration=_duration_msg(t)))
            return self._finish_behavior(
                goal_handle, AssistedTeleop.Result(), 'assisted_teleop', outcome, elapsed,
                {BehaviorOutcome.RUNNING: ASSISTED_TELEOP_UNKNOWN,
                 BehaviorOutcome.TIMEOUT: ASSISTED_TELEOP_TIMEOUT})

    def _execute_wait(self, goal_handle: ServerGoalHandle) -> Wait.Result:
        duration = _duration_seconds(goal_handle.request.time)
        start = self._now_s()
        outcome = BehaviorOutcome.RUNNING
        with self._tracked(goal_handle) as wake:
            while outcome is BehaviorOutcome.RUNNING:
                wake.clear()
                elapsed = self._now_s() - start
                if self._should_stop():
                    outcome = BehaviorOutcome.SHUTDOWN
                elif goal_handle.is_cancel_requested:
                    outcome = BehaviorOutcome.CANCELED
                elif elapsed >= duration:
                    with self._lock:
                        stuck = self._config.fault is Fault.STUCK
                    # A stuck robot is still stuck after waiting: the recovery did not help.
                    outcome = BehaviorOutcome.TIMEOUT if stuck else BehaviorOutcome.SUCCEEDED
                else:
                    goal_handle.publish_feedback(
                        Wait.Feedback(time_left=_duration_msg(duration - elapsed)))
                    wake.wait(timeout=max(0.01, min(FEEDBACK_PERIOD, duration - elapsed)))
            return self._finish_behavior(
                goal_handle, Wait.Result(), 'wait', outcome, self._now_s() - start,
                {BehaviorOutcome.RUNNING: WAIT_UNKNOWN, BehaviorOutcome.TIMEOUT: WAIT_TIMEOUT},
                timeout_message='The robot is still stuck after waiting')


def main(args: Optional[List[str]] = None) -> None:
    """Run one simulated robot until SIGINT or SIGTERM.

    ``args`` is a full argv (program name first; default ``sys.argv``); ROS arguments after
    ``--ros-args`` are passed to rclpy, e.g. ``-p speed:=2.0``.
    """
    argv = list(sys.argv if args is None else args)
    parser = argparse.ArgumentParser(
        prog='fleet_sim_base', description='Run one simulated Nav2 robot (node /<robot-id>/sim).')
    parser.add_argument('--robot-id', required=True, help='robot id, used as the namespace')
    parser.add_argument('--x', type=float, default=0.0, help='start x (m), also the dock')
    parser.add_argument('--y', type=float, default=0.0, help='start y (m), also the dock')
    parser.add_argument('--theta', type=float, default=0.0, help='start heading (rad)')
    options = parser.parse_args(remove_ros_args(argv)[1:])
    try:
        validate_namespace('/' + options.robot_id)
    except InvalidNamespaceException as error:
        parser.error(f'invalid --robot-id {options.robot_id!r}: {error}')

    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.SIGINT)
    previous_sigterm = signal.signal(signal.SIGTERM, lambda _signum, _frame: rclpy.try_shutdown())
    robot: Optional[SimRobot] = None
    executor: Optional[MultiThreadedExecutor] = None
    try:
        robot = SimRobot(options.robot_id, options.x, options.y, options.theta)
        executor = MultiThreadedExecutor(num_threads=RECOMMENDED_EXECUTOR_THREADS)
        executor.add_node(robot)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # SIGINT / SIGTERM: fall through to the orderly shutdown below
    finally:
        if executor is not None:
            executor.shutdown()
        if robot is not None:
            robot.destroy_node()
        rclpy.try_shutdown()
        signal.signal(signal.SIGTERM, previous_sigterm)


if __name__ == '__main__':
    main()
