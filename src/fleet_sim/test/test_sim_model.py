"""Unit tests of the sim's plain-Python parts: base model, parameters, timer alignment, messages.

No ROS graph: these run in milliseconds.
"""

import math
import subprocess
import sys
from typing import List

from diagnostic_msgs.msg import DiagnosticStatus
import pytest

from fleet_sim import convert
from fleet_sim.base import BehaviorOutcome, Motion, MotionKind, Route, SimBase
from fleet_sim.params import PARAMETER_NAMES, Fault, SimConfig, check_parameter, typed_overrides
from fleet_sim.physics import Area, Pose2D
from fleet_sim.timing import PhaseAligner, bridging_period, phase_offset

MS = 1_000_000  # ns


def make_config(**changes: object) -> SimConfig:
    values = dict(speed=1.0, angular_speed=1.5, odom_rate=10.0, drain_per_meter=0.01,
                  drain_idle_per_second=0.0, charge_per_second=0.1, dock_x=0.0, dock_y=0.0,
                  fault=Fault.NONE, areas=(), recovery_interval=1.0, max_recoveries=6)
    values.update(changes)
    return SimConfig(**values)  # type: ignore[arg-type]


def run(base: SimBase, config: SimConfig, seconds: float, dt: float = 0.1) -> None:
    for i in range(round(seconds / dt)):
        base.step(dt, i * dt, config)


def test_pure_modules_do_not_import_rclpy() -> None:
    code = ('import sys\n'
            'import fleet_sim.base, fleet_sim.codes, fleet_sim.convert, fleet_sim.params\n'
            'import fleet_sim.physics, fleet_sim.timing\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "rclpy"))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == '[]'


# ---------------------------------------------------------------- base


def test_route_drives_through_its_poses_and_drains_the_battery() -> None:
    base = SimBase(Pose2D(0.0, 0.0, 0.0), battery=1.0)
    route = Route([Pose2D(1.0, 0.0, 0.0), Pose2D(1.0, 1.0, math.pi / 2.0)])
    base.follow(route)
    assert route.distance_from(base.pose) == pytest.approx(2.0)
    run(base, make_config(), 1.0)
    assert route.index == 1 and not route.arrived
    assert base.linear_velocity == pytest.approx(1.0) and base.angular_velocity == 0.0
    run(base, make_config(), 3.0)
    assert route.arrived
    # In position within the goal tolerance (5 cm), and aligned with the last pose.
    assert math.hypot(base.pose.x - 1.0, base.pose.y - 1.0) <= 0.05
    assert base.pose.theta == pytest.approx(math.pi / 2.0)
    assert base.battery == pytest.approx(1.0 - 0.01 * (1.0 + base.pose.y))
    assert base.busy and not base.charging
    base.release(route)
    assert base.route is None and not base.busy


def test_stuck_or_flat_base_does_not_move() -> None:
    for config, battery in ((make_config(fault=Fault.STUCK), 1.0), (make_config(), 0.0)):
        base = SimBase(Pose2D(0.0, 0.0, 0.0), battery=battery)
        base.follow(Route([Pose2D(1.0, 0.0, 0.0)]))
        motion = Motion(MotionKind.DRIVE, 0.5, 1.0)
        run(base, config, 1.0)
        base.start_motion(motion)
        run(base, config, 1.0)
        assert base.pose == Pose2D(0.0, 0.0, 0.0)
        assert motion.outcome is BehaviorOutcome.RUNNING and motion.progress == 0.0


def test_route_into_a_blocked_area_stops_in_front_and_reports_blocked() -> None:
    base = SimBase(Pose2D(0.0, 0.0, 0.0), battery=1.0)
    route = Route([Pose2D(2.0, 0.0, 0.0)])
    base.follow(route)
    run(base, make_config(areas=(Area(1.0, -1.0, 1.5, 1.0),)), 3.0)
    assert route.blocked and not route.arrived
    assert 0.98 < base.pose.x < 1.0  # stopped in front of the area's edge at x = 1


def test_a_new_motion_preempts_the_running_one() -> None:
    base = SimBase(Pose2D(0.0, 0.0, 0.0), battery=1.0)
    first, second = Motion(MotionKind.ROTATE, 1.0, 1.0), Motion(MotionKind.ROTATE, -0.5, 1.0)
    base.start_motion(first)
    base.step(0.1, 0.0, make_config())
    base.start_motion(second)
    assert first.outcome is BehaviorOutcome.PREEMPTED and base.motion is second
    run(base, make_config(), 1.0)
    assert second.outcome is BehaviorOutcome.SUCCEEDED and base.motion is None
    assert base.pose.theta == pytest.approx(0.1 - 0.5)
    assert second.progress == pytest.approx(0.5)


def test_drive_into_a_blocked_area_ends_blocked() -> None:
    base = SimBase(Pose2D(0.0, 0.0, 0.0), battery=1.0)
    motion = Motion(MotionKind.DRIVE, 1.0, 0.5)
    base.start_motion(motion)
    run(base, make_config(areas=(Area(0.5, -1.0, 1.0, 1.0),)), 2.0)
    assert motion.outcome is BehaviorOutcome.BLOCKED and base.motion is None
    assert 0.48 < motion.progress < 0.5  # stopped in front of the area's edge at x = 0.5


def test_teleop_follows_fresh_commands_only_until_preempted() -> None:
    base = SimBase(Pose2D(0.0, 0.0, 0.0), battery=1.0)
    motion = Motion(MotionKind.TELEOP)
    base.start_motion(motion)
    base.teleop(0.5, 0.0, now=10.0)
    base.step(0.2, 10.1, make_config())
    assert base.pose.x == pytest.approx(0.1) and base.linear_velocity == pytest.approx(0.5)
    base.step(0.2, 10.6, make_config())  # the command is 0.6 s old: ignored
    assert base.pose.x == pytest.approx(0.1) and base.linear_velocity == 0.0
    base.preempt_teleop()
    assert motion.outcome is BehaviorOutcome.SUCCEEDED and base.motion is None


def test_charges_at_the_dock_only_while_idle() -> None:
    base = SimBase(Pose2D(0.1, 0.0, 0.0), battery=0.5)
    run(base, make_config(), 1.0)
    assert base.charging and base.battery == pytest.approx(0.6)
    base.follow(Route([Pose2D(0.1, 0.0, 0.0)]))
    base.step(1.0, 1.0, make_config(drain_idle_per_second=0.01))
    assert not base.charging and base.battery == pytest.approx(0.59)


# ---------------------------------------------------------------- parameters


def test_check_parameter_gives_reasons() -> None:
    assert check_parameter('fault', 'stuck', internal=False) is None
    assert 'fault must be one of' in check_parameter('fault', 'explode', internal=False)
    reason = check_parameter('blocked_areas', ['0,0,1,1', '1,2,x,4'], internal=False)
    assert 'entry 1' in reason and "'1,2,x,4'" in reason
    for counter in ('goals_received', 'goals_succeeded', 'goals_canceled'):
        assert counter in PARAMETER_NAMES
        assert counter in check_parameter(counter, 3, internal=False)
        assert check_parameter(counter, 3, internal=True) is None


def test_typed_overrides_match_the_declarations() -> None:
    assert typed_overrides({'speed': 2, 'blocked_areas': [], 'max_recoveries': 3}) == {
        'speed': 2.0, 'max_recoveries': 3}
    with pytest.raises(TypeError, match='no_such'):
        typed_overrides({'no_such': 1})


def test_config_snapshot_parses_areas_and_fault() -> None:
    values = {'speed': 1.0, 'angular_speed': 2.0, 'odom_rate': 20.0, 'drain_per_meter': 0.0,
              'drain_idle_per_second': 0.0, 'charge_per_second': 0.0, 'dock_x': 1.0,
              'dock_y': 2.0, 'fault': 'stuck', 'blocked_areas': ['0,0,1,1'],
              'recovery_interval': 0.5, 'max_recoveries': 2, 'software_version': '1.1.0-bad'}
    config = SimConfig.from_values(values.__getitem__)
    assert config.fault is Fault.STUCK and config.areas == (Area(0.0, 0.0, 1.0, 1.0),)
    assert config.software_version == '1.1.0-bad'


# ---------------------------------------------------------------- timer alignment


class FakeTimer:
    """A timer with rcl's schedule: the next call is fixed (last + period) before the callback."""

    def __init__(self, created_ns: int, period_ns: int) -> None:
        self.timer_period_ns = period_ns
        self.next_call = created_ns + period_ns
        self.now = created_ns

    def time_until_next_call(self) -> int:
        return self.next_call - self.now

    def fire(self, latency_ns: int = 0) -> int:
        self.now = self.next_call + latency_ns
        self.next_call += self.timer_period_ns
        if self.next_call < self.now:  # missed cycles: rcl skips whole periods
            behind = self.now - self.next_call
            self.next_call += (1 + (behind - 1) // self.timer_period_ns) * self.timer_period_ns
        return self.now


def test_grid_helpers() -> None:
    assert phase_offset(1_234 * MS, 100 * MS) == 34 * MS
    assert phase_offset(1_299 * MS, 100 * MS) == 1 * MS
    assert bridging_period(1_234 * MS, 100 * MS) == 66 * MS
    assert bridging_period(1_200 * MS, 100 * MS) == 100 * MS


@pytest.mark.parametrize('latencies', [[0] * 8, [3 * MS] * 8, [0, 80 * MS] + [0] * 10])
def test_aligner_moves_the_timer_onto_the_grid(latencies: List[int]) -> None:
    period = 100 * MS
    timer = FakeTimer(created_ns=5_012_345_678, period_ns=period)
    aligner = PhaseAligner(timer, period)
    for latency in latencies:
        aligner.on_tick(timer.fire(latency))
    assert aligner.aligned and timer.timer_period_ns == period
    calls = [timer.fire() for _ in range(3)]
    assert all(call % period == 0 for call in calls)
    aligner.restart(50 * MS)
    assert not aligner.aligned and timer.timer_period_ns == 50 * MS


# ---------------------------------------------------------------- messages


def test_odometry_writer_refills_one_message() -> None:
    writer = convert.OdometryWriter()
    base = SimBase(Pose2D(1.0, 2.0, math.pi / 2.0), battery=1.0)
    msg = writer.fill(3_500_000_000, base)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 500_000_000)
    assert (msg.header.frame_id, msg.child_frame_id) == ('odom', 'base_link')
    assert msg.pose.pose.orientation.z == pytest.approx(math.sqrt(0.5))
    base.pose = Pose2D(4.0, 5.0, 0.0)
    assert writer.fill(0, base) is msg and msg.pose.pose.position.x == 4.0


def test_diagnosis_levels() -> None:
    assert convert.battery_diagnosis(0.05)[0] == DiagnosticStatus.ERROR
    assert convert.battery_diagnosis(0.15)[0] == DiagnosticStatus.WARN
    assert convert.battery_diagnosis(0.5)[0] == DiagnosticStatus.OK
    assert convert.motors_diagnosis(0.0, False, True)[1] == 'Motors unpowered'
    assert convert.motors_diagnosis(0.5, True, True)[1] == 'Robot is stuck'
    assert convert.motors_diagnosis(0.5, False, True)[1] == 'Moving'
    assert convert.duration_seconds(convert.duration_msg(1.25)) == pytest.approx(1.25)
    assert convert.duration_seconds(convert.duration_msg(-3.0)) == 0.0
