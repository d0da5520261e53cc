"""Message conversions at the sim's edge: the only module that builds or reads ROS messages.

No rclpy here, only message types. Times are integer nanoseconds since the epoch (the
node clock's) or float seconds for durations.
"""

import math
from typing import Iterable, Tuple

from builtin_interfaces.msg import Duration as DurationMsg
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, Quaternion
from nav2_msgs.msg import BehaviorTreeLog, BehaviorTreeStatusChange
from nav_msgs.msg import Odometry
from sensor_msgs.msg import BatteryState

from fleet_sim import physics
from fleet_sim.base import SimBase
from fleet_sim.physics import Pose2D

ODOM_FRAME = 'odom'
BASE_FRAME = 'base_link'
MAP_FRAME = 'map'
#: Battery diagnostics turn WARN below this level and ERROR below the next one.
BATTERY_WARN_LEVEL = 0.2
BATTERY_ERROR_LEVEL = 0.1
CHARGE_CURRENT = 2.0  # A, reported while charging
DISCHARGE_CURRENT = -1.0  # A, reported otherwise
_NS = 1_000_000_000


def duration_msg(seconds: float) -> DurationMsg:
    """Return ``seconds`` (negative counts as 0) as a Duration message."""
    sec, nanosec = divmod(int(max(0.0, seconds) * 1e9), _NS)
    return DurationMsg(sec=sec, nanosec=nanosec)


def duration_seconds(msg: DurationMsg) -> float:
    """Return a Duration message in seconds."""
    return msg.sec + msg.nanosec * 1e-9


def time_msg(nanoseconds: int) -> TimeMsg:
    """Return a clock reading (ns) as a Time message."""
    sec, nanosec = divmod(nanoseconds, _NS)
    return TimeMsg(sec=sec, nanosec=nanosec)


def pose_from_msg(msg: PoseStamped) -> Pose2D:
    """Return the planar pose (x, y, yaw) of a PoseStamped; roll and pitch are ignored."""
    p, q = msg.pose.position, msg.pose.orientation
    return Pose2D(p.x, p.y, physics.quaternion_to_yaw(q.x, q.y, q.z, q.w))


def pose_is_finite(msg: PoseStamped) -> bool:
    """Return True if the position and orientation of ``msg`` are all finite numbers."""
    p, q = msg.pose.position, msg.pose.orientation
    return all(math.isfinite(v) for v in (p.x, p.y, q.x, q.y, q.z, q.w))


def quaternion(yaw: float) -> Quaternion:
    """Return the Quaternion message of a rotation by ``yaw`` (rad) about +z."""
    x, y, z, w = physics.yaw_to_quaternion(yaw)
    return Quaternion(x=x, y=y, z=z, w=w)


class OdometryWriter:
    """One Odometry message, refilled in place for every publish (no per-tick allocation)."""

    def __init__(self) -> None:
        self.msg = Odometry()
        self.msg.header.frame_id = ODOM_FRAME
        self.msg.child_frame_id = BASE_FRAME
        self._stamp = self.msg.header.stamp
        self._position = self.msg.pose.pose.position
        self._orientation = self.msg.pose.pose.orientation
        self._linear = self.msg.twist.twist.linear
        self._angular = self.msg.twist.twist.angular

    def fill(self, nanoseconds: int, base: SimBase) -> Odometry:
        """Fill the message with the base's pose and velocities at ``nanoseconds``."""
        self._stamp.sec, self._stamp.nanosec = divmod(nanoseconds, _NS)
        pose = base.pose
        self._position.x = pose.x
        self._position.y = pose.y
        self._orientation.z = math.sin(pose.theta / 2.0)
        self._orientation.w = math.cos(pose.theta / 2.0)
        self._linear.x = base.linear_velocity
        self._angular.z = base.angular_velocity
        return self.msg


def battery_state(nanoseconds: int, level: float, charging: bool,
                  serial_number: str) -> BatteryState:
    """Return the BatteryState of a Li-ion pack at ``level`` (0..1)."""
    msg = BatteryState()
    msg.header.stamp = time_msg(nanoseconds)
    msg.header.frame_id = BASE_FRAME
    msg.voltage = physics.battery_voltage(level)
    msg.temperature = math.nan
    msg.current = CHARGE_CURRENT if charging else DISCHARGE_CURRENT
    msg.charge = math.nan
    msg.capacity = math.nan
    msg.design_capacity = math.nan
    msg.percentage = level
    msg.power_supply_status = (BatteryState.POWER_SUPPLY_STATUS_CHARGING if charging
                               else BatteryState.POWER_SUPPLY_STATUS_DISCHARGING)
    msg.power_supply_health = (BatteryState.POWER_SUPPLY_HEALTH_DEAD if level <= 0.0
                               else BatteryState.POWER_SUPPLY_HEALTH_GOOD)
    msg.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LION
    msg.present = True
    msg.location = 'base'
    msg.serial_number = serial_number
    return msg


def battery_diagnosis(level: float) -> Tuple[bytes, str]:
    """Return the diagnostic level and message of a battery at ``level`` (0..1)."""
    if level < BATTERY_ERROR_LEVEL:
        return DiagnosticStatus.ERROR, 'Battery critically low'
    if level < BATTERY_WARN_LEVEL:
        return DiagnosticStatus.WARN, 'Battery low'
    return DiagnosticStatus.OK, 'Battery OK'


def motors_diagnosis(level: float, stuck: bool, moving: bool) -> Tuple[bytes, str]:
    """Return the diagnostic level and message of the motors."""
    if level <= 0.0:
        return DiagnosticStatus.ERROR, 'Motors unpowered'
    if stuck:
        return DiagnosticStatus.WARN, 'Robot is stuck'
    if moving:
        return DiagnosticStatus.OK, 'Moving'
    return DiagnosticStatus.OK, 'Idle'


def diagnostics(nanoseconds: int, hardware_id: str, base: SimBase, fault: str,
                stuck: bool) -> DiagnosticArray:
    """Return the ``motors`` and ``battery`` statuses of ``base``."""
    level = base.battery
    motors_level, motors_text = motors_diagnosis(level, stuck, base.busy)
    battery_level, battery_text = battery_diagnosis(level)
    navigating = str(base.route is not None).lower()
    msg = DiagnosticArray()
    msg.header.stamp = time_msg(nanoseconds)
    msg.status = [
        DiagnosticStatus(
            level=motors_level, name='motors', message=motors_text, hardware_id=hardware_id,
            values=_key_values((('fault', fault), ('navigating', navigating)))),
        DiagnosticStatus(
            level=battery_level, name='battery', message=battery_text, hardware_id=hardware_id,
            values=_key_values((
                ('percentage', f'{level:.4f}'),
                ('voltage', f'{physics.battery_voltage(level):.2f}'),
                ('charging', str(base.charging).lower())))),
    ]
    return msg


def _key_values(pairs: Iterable[Tuple[str, str]]) -> list[KeyValue]:
    return [KeyValue(key=key, value=value) for key, value in pairs]


def bt_status_change(nanoseconds: int, node_name: str, uid: int, previous: str,
                     current: str) -> BehaviorTreeLog:
    """Return a BehaviorTreeLog holding one status change of the BT node ``node_name``."""
    stamp = time_msg(nanoseconds)
    change = BehaviorTreeStatusChange(timestamp=stamp, node_name=node_name, uid=uid,
                                      previous_status=previous, current_status=current)
    return BehaviorTreeLog(timestamp=stamp, event_log=[change])
