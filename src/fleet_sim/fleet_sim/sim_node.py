"""A simulated robot base that speaks Nav2's interfaces, with fault injection.

:class:`SimRobot` is one node, ``/<robot_id>/sim``, standing in for a robot running Nav2:

* topics (namespace-relative): ``odom`` (nav_msgs/Odometry at ``odom_rate``),
  ``battery_state`` (sensor_msgs/BatteryState, 1 Hz), ``diagnostics``
  (diagnostic_msgs/DiagnosticArray, 1 Hz, statuses ``motors`` and ``battery``) and
  ``behavior_tree_log`` (nav2_msgs/BehaviorTreeLog, on recovery status changes); it listens on
  ``cmd_vel_teleop`` (geometry_msgs/Twist) and ``preempt_teleop`` (std_msgs/Empty) while an
  assisted-teleop behavior runs;
* navigator action servers ``navigate_to_pose`` and ``navigate_through_poses``
  (:mod:`fleet_sim.navigator`); one navigation goal runs at a time across both, and a new one
  preempts it (the old goal aborts), as in Nav2;
* behavior-server action servers ``spin``, ``backup``, ``wait``, ``drive_on_heading`` and
  ``assisted_teleop`` (:mod:`fleet_sim.behaviors`), which the navigator itself calls through
  ActionClients as recoveries.

Faults are injected through the ``fault`` parameter (see :class:`~fleet_sim.params.Fault`);
all parameters are declared in :mod:`fleet_sim.params`. The base's state and motion model
are plain Python in :mod:`fleet_sim.base` and :mod:`fleet_sim.physics`; messages are built
in :mod:`fleet_sim.convert`.

Threading: no callback waits. One timer at ``odom_rate`` moves the base, publishes odom,
advances every running goal (see :mod:`fleet_sim.goals`) and, once a second, the status
topics; it is phase-aligned (:mod:`fleet_sim.timing`) so that robots in one process tick
together. So the node runs on any executor: ``fleet_common.ros.make_executor()``, a
SingleThreadedExecutor or a MultiThreadedExecutor with any number of threads. One
reentrant lock serialises everything that touches the robot's state.
"""

import argparse
import contextlib
import sys
import threading
import traceback
from typing import Any, Callable, Dict, Iterator, List, Optional

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.context import Context
from rclpy.exceptions import InvalidNamespaceException, ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args
from rclpy.validate_namespace import validate_namespace
from sensor_msgs.msg import BatteryState
from std_msgs.msg import Empty

from fleet_common.ros import run_nodes
from fleet_sim import convert, physics
from fleet_sim.base import SimBase
from fleet_sim.behaviors import BehaviorServer

# Re-exported: the result codes and parameter names used to live here.
from fleet_sim.codes import (  # noqa: F401  # noqa: F401
    COMPUTE_PATH_GOAL_OCCUPIED,
    COMPUTE_PATH_NO_VALID_PATH,
    DRIVE_ON_HEADING_INVALID_INPUT,
    FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS,  # noqa: F401
    NAV_ERROR_NONE,
)
from fleet_sim.goals import GoalRun
from fleet_sim.navigator import Navigator
from fleet_sim.params import (  # noqa: F401
    COUNTERS,
    PARAM_SPECS,
    PARAMETER_NAMES,
    Fault,
    SimConfig,
    check_parameter,
    typed_overrides,
)
from fleet_sim.physics import Pose2D
from fleet_sim.timing import PhaseAligner

NODE_NAME = 'sim'
#: Period (s) of battery_state and diagnostics.
STATUS_PERIOD = 1.0
_MAX_PHYSICS_DT = 0.5  # s; longer gaps (e.g. a stalled executor) are not integrated at once


class SimRobot(Node):
    """A simulated Nav2 robot base: node ``/<robot_id>/sim``.

    ``SimRobot(robot_id, x, y, theta, context=None, **overrides)`` starts the robot at
    (x, y) m with heading theta rad, docked there unless ``dock_x``/``dock_y`` say otherwise.
    ``overrides`` set initial values of any parameter in :data:`PARAMETER_NAMES`; invalid
    values raise rclpy's InvalidParameterValueException, unknown names TypeError.

    Spin it on any executor and call :meth:`destroy_node` when done: running goals abort
    ('The robot is shutting down') before the node goes. ``lock``, ``base``, ``config``,
    ``closing``, :meth:`add_run` and :meth:`now_s` are for the robot's navigator and
    behavior server (:class:`fleet_sim.goals.Host`).
    """

    def __init__(self, robot_id: str, x: float = 0.0, y: float = 0.0, theta: float = 0.0, *,
                 context: Optional[Context] = None, **overrides: Any) -> None:
        typed = typed_overrides(overrides)
        super().__init__(NODE_NAME, namespace=robot_id, context=context,
                         parameter_overrides=[Parameter(k, value=v) for k, v in typed.items()])
        self._robot_id = robot_id
        self.lock = threading.RLock()
        self._internal = threading.local()
        self._closing = False
        self._runs: Dict[bytes, GoalRun] = {}
        self.add_on_set_parameters_callback(self._validate_parameters)
        try:
            with self._internal_update():
                self._declare_parameters(float(x), float(y))
        except Exception:
            super().destroy_node()  # do not leak the node when an override is invalid
            raise
        self._config = self._read_config()
        self.base = SimBase(Pose2D(float(x), float(y), physics.normalize_angle(float(theta))),
                            float(self.get_parameter('battery').value))
        self._hook_lock = threading.RLock()  # a hook may reinstall itself
        self._network_up = self._config.fault is not Fault.OFFLINE
        self._network_hook: Optional[Callable[[bool], None]] = None

        self._odometry = convert.OdometryWriter()
        self._odom_pub = self.create_publisher(Odometry, 'odom', 10)
        self._battery_pub = self.create_publisher(BatteryState, 'battery_state', 10)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, 'diagnostics', 10)
        self.create_subscription(Twist, 'cmd_vel_teleop', self._on_teleop_command, 10)
        self.create_subscription(Empty, 'preempt_teleop', self._on_preempt_teleop, 10)
        # Everything in the node's one mutually exclusive group: a MultiThreadedExecutor
        # then runs one callback of this robot at a time, as the other executors do.
        group = self.default_callback_group
        self._navigator = Navigator(self, self, group, self._count, self._clear_fault)
        self._behaviors = BehaviorServer(self, self, group)
        self._last_tick = self.now_s()
        self._next_status = self._last_tick
        period_ns = _period_ns(self._config.odom_rate)
        self._timer = self.create_timer(period_ns * 1e-9, self._on_tick)
        self._aligner = PhaseAligner(self._timer, period_ns)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.get_logger().info(
            f'Simulated robot {robot_id} at ({x:.2f}, {y:.2f}), '
            f'fault={self._config.fault.value}')

    # ------------------------------------------------------------------ public API

    @property
    def robot_id(self) -> str:
        """The robot id, which is also the node's namespace."""
        return self._robot_id

    @property
    def pose(self) -> Pose2D:
        """The current simulated pose in the odom frame."""
        with self.lock:
            return self.base.pose

    @property
    def battery_level(self) -> float:
        """The current battery charge, 0..1."""
        with self.lock:
            return self.base.battery

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
        """End running goals (they abort), then destroy the node, its servers and clients.

        Results reach clients if an executor still runs the node; otherwise the status
        topic alone tells how the goals ended.
        """
        with self.lock:
            self._closing = True
            runs, self._runs = list(self._runs.values()), {}
            now = self.now_s()
            for run in runs:
                run.shut_down(now)
        self._navigator.destroy()
        self._behaviors.destroy()
        super().destroy_node()

    # ------------------------------------------------------------------ for the goal runs

    @property
    def config(self) -> SimConfig:
        """The current parameter snapshot."""
        return self._config

    @property
    def closing(self) -> bool:
        """True once :meth:`destroy_node` has begun."""
        return self._closing

    def now_s(self) -> float:
        """Return the node clock's time in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    def add_run(self, run: GoalRun) -> None:
        """Tick ``run`` now and then on every timer tick until it ends."""
        with self.lock:
            if self._closing:
                run.shut_down(run.start)
                return
            self._runs[run.key] = run
            self._tick_run(run, run.start)
            if run.ended:
                del self._runs[run.key]

    # ------------------------------------------------------------------ the timer

    def _on_tick(self) -> None:
        with self.lock:
            if self._closing:
                return
            nanoseconds = self.get_clock().now().nanoseconds
            self._aligner.on_tick(nanoseconds)
            now = nanoseconds * 1e-9
            dt = min(_MAX_PHYSICS_DT, max(0.0, now - self._last_tick))
            self._last_tick = now
            self.base.step(dt, now, self._config)
            self._odom_pub.publish(self._odometry.fill(nanoseconds, self.base))
            if self._runs:
                for run in list(self._runs.values()):
                    self._tick_run(run, now)
                if any(run.ended for run in self._runs.values()):
                    self._runs = {k: r for k, r in self._runs.items() if not r.ended}
            if now >= self._next_status:
                self._next_status = now + STATUS_PERIOD
                self._publish_status(nanoseconds)

    def _tick_run(self, run: GoalRun, now: float) -> None:
        if run.ended:
            return
        try:
            run.tick(now)
        except Exception as error:  # noqa: BLE001 - a bug in one goal aborts that goal, as in rclpy
            self.get_logger().error(f'Goal failed: {error!r}\n{traceback.format_exc()}')
            run.fail()

    def _publish_status(self, nanoseconds: int) -> None:
        base, config = self.base, self._config
        stuck = config.fault is Fault.STUCK or (base.route is not None and base.route.blocked)
        self._battery_pub.publish(convert.battery_state(
            nanoseconds, base.battery, base.charging, f'{self._robot_id}-battery'))
        self._diagnostics_pub.publish(convert.diagnostics(
            nanoseconds, self._robot_id, base, config.fault.value, stuck))

    def _on_teleop_command(self, msg: Twist) -> None:
        with self.lock:
            self.base.teleop(msg.linear.x, msg.angular.z, self.now_s())

    def _on_preempt_teleop(self, _msg: Empty) -> None:
        with self.lock:
            self.base.preempt_teleop()

    # ------------------------------------------------------------------ parameters

    def _declare_parameters(self, x: float, y: float) -> None:
        start = {'dock_x': x, 'dock_y': y}
        for spec in PARAM_SPECS:
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
        internal = getattr(self._internal, 'active', False)
        for param in parameters:
            reason = check_parameter(param.name, param.value, internal)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _read_config(self) -> SimConfig:
        return SimConfig.from_values(lambda name: self.get_parameter(name).value)

    def _apply_parameters(self, parameters: List[Parameter]) -> None:
        names = {param.name for param in parameters}
        if names <= set(COUNTERS):
            return
        config = self._read_config()
        with self.lock:
            previous, self._config = self._config, config
            if 'battery' in names:
                self.base.battery = float(self.get_parameter('battery').value)
            if config.odom_rate != previous.odom_rate:
                self._aligner.restart(_period_ns(config.odom_rate))
        if config.fault is not previous.fault:
            self.get_logger().info(f'fault: {previous.fault.value} -> {config.fault.value}')
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
        except Exception as error:  # noqa: BLE001 - a faulty hook must not break the parameters
            self.get_logger().error(f'Network hook raised {error!r}')

    def _set_own_parameter(self, name: str, value: Any) -> None:
        with self._internal_update():
            result = self.set_parameters([Parameter(name, value=value)])[0]
        if not result.successful:
            self.get_logger().error(f'Could not set {name}={value!r}: {result.reason}')

    def _count(self, name: str) -> None:
        with self.lock:
            self._set_own_parameter(name, int(self.get_parameter(name).value) + 1)

    def _clear_fault(self) -> None:
        self._set_own_parameter('fault', Fault.NONE.value)


def _period_ns(rate: float) -> int:
    return int(round(1e9 / rate))


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

    def make() -> List[SimRobot]:
        try:
            return [SimRobot(options.robot_id, options.x, options.y, options.theta)]
        except ParameterException as error:  # e.g. -p fault:=explode
            raise ValueError(str(error)) from None

    raise SystemExit(run_nodes(make, args=argv))


if __name__ == '__main__':
    main()
