import itertools
import math

import pytest

from fleet_manager.core.assignment import GreedyPriorityPolicy
from fleet_manager.core.errors import Conflict, NotFound, ValidationError
from fleet_manager.core.missions import (
    CancelOnRobot,
    Dispatch,
    MissionBoard,
    MissionRequest,
    MissionSettings,
    MissionState,
    Outcome,
    Pruned,
    SendToDock,
    Waypoint,
    plan_round,
)
from fleet_manager.core.model import Connectivity, Mode
from manager_factories import make_fleet, make_request, make_robot


def board(**kw: object) -> MissionBoard:
    ids = (f'm{i}' for i in itertools.count(1))
    return MissionBoard(make_fleet(3), MissionSettings(**kw), GreedyPriorityPolicy(),  # type: ignore[arg-type]
                        new_id=lambda: next(ids))


ROBOTS = ['r1', 'r2', 'r3']


def test_lifecycle_events_in_order() -> None:
    b = board()
    m, dup, res = b.submit(make_request(5, 5, client_ref='WMS-1'), ROBOTS, now=1.0)
    assert not dup and m.state == MissionState.QUEUED
    res = b.assign([make_robot('r1', 0, 0), make_robot('r2', 5, 4)], now=2.0)
    assert [type(c) for c in res.commands] == [Dispatch]
    assert res.commands[0].robot_id == 'r2' and res.commands[0].attempt == 1
    b.on_started('m1', 1, 'r2', 3.0)
    b.on_result('m1', 1, 'r2', Outcome.SUCCEEDED, '', 4.0)
    assert b.get('m1').state == MissionState.SUCCEEDED
    # A late duplicate result changes nothing.
    assert b.on_result('m1', 1, 'r2', Outcome.FAILED, 'late', 5.0).events == []
    dirty = b.take_dirty()
    assert [d.id for d in dirty] == ['m1'] and b.take_dirty() == []


def test_failed_attempt_retries_elsewhere_then_fails_with_reason() -> None:
    b = board(max_attempts=2)
    b.submit(make_request(0, 0), ROBOTS, 0.0)
    robots = [make_robot('r1', 0, 0), make_robot('r2', 1, 0)]
    assert b.assign(robots, 1.0).commands[0].robot_id == 'r1'
    b.on_started('m1', 1, 'r1', 1.5)
    ev = b.on_result('m1', 1, 'r1', Outcome.FAILED, 'navigation aborted', 2.0,
                     {'nav_error_code': 208}).events
    assert ev[0].payload['state'] == 'queued' and ev[0].robot_id == 'r1'
    assert ev[0].payload['nav_error_code'] == 208
    second = b.assign(robots, 3.0).commands[0]
    assert second.robot_id == 'r2' and second.attempt == 2
    b.on_result('m1', 2, 'r2', Outcome.FAILED, 'navigation aborted', 4.0)
    m = b.get('m1')
    assert m.state == MissionState.FAILED
    assert m.failure_reason == 'failed after 2 attempt(s): navigation aborted'


def test_offline_robot_mission_requeued_after_grace_and_cancelled_on_return() -> None:
    b = board(robot_lost_after=10.0)
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    b.on_started('m1', 1, 'r1', 0.5)
    b.on_connectivity('r1', Connectivity.OFFLINE, 20.0)
    assert b.tick(29.9).events == []
    ev = b.tick(30.0).events
    assert ev[0].payload['state'] == 'queued' and 'out of reach' in ev[0].payload['reason']
    # The robot comes back still executing it: it is told to cancel that attempt.
    res = b.on_robot_status(make_robot('r1', mission='m1', mode=Mode.WORKING), True, 31.0)
    assert res.commands == [CancelOnRobot('r1', 'm1',
                                          'the mission is no longer assigned to this robot', 1)]
    # rate limited: no second cancel a second later
    assert b.on_robot_status(make_robot('r1', mission='m1'), True, 32.0).commands == []


def test_restart_readopts_missions_the_robot_reports() -> None:
    b = board(robot_lost_after=10.0)
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    b.on_started('m1', 1, 'r1', 0.5)
    b.submit(make_request(), ROBOTS, 0.6)
    b.assign([make_robot('r2')], 0.7)
    saved = [type(m).from_dict(m.to_dict()) for m in b.missions()]
    b2 = board(robot_lost_after=10.0)
    b2.restore(saved, now=100.0)
    ev = b2.on_robot_status(make_robot('r1', mission='m1', mode=Mode.WORKING), True,
                            101.0).events
    assert ev and ev[0].payload['reason'] == 're-adopted'
    assert b2.get('m2').state == MissionState.ASSIGNED
    b2.on_robot_status(make_robot('r2', mission='m2', mode=Mode.WORKING), True, 101.0)
    assert b2.get('m2').state == MissionState.ACTIVE
    assert b2.tick(200.0).events == []  # both adopted: nothing requeued
    assert b2.get('m1').attempts == 1


def test_restart_requeues_missions_no_robot_reports() -> None:
    b = board(robot_lost_after=5.0)
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    b2 = board(robot_lost_after=5.0)
    b2.restore(b.missions(), now=10.0)
    # Idle, reports no mission, but its events are not all in: it may still report it.
    b2.on_robot_status(make_robot('r1'), False, 11.0)
    assert b2.tick(14.9).events == []
    assert b2.tick(15.0).events[0].payload['state'] == 'queued'


@pytest.mark.parametrize('req,field', [
    (MissionRequest(waypoints=()), 'waypoints'),
    (MissionRequest(waypoints=(Waypoint(math.nan, 0.0),)), 'waypoints[0].x'),
    (MissionRequest(waypoints=(Waypoint(0.0, 1e9),)), 'waypoints[0].y'),
    (MissionRequest(waypoints=(Waypoint(0.0, 0.0, dwell=-1),)), 'waypoints[0].dwell'),
    (MissionRequest(waypoints=(Waypoint(0.0, 0.0, frame_id='odom'),)), 'waypoints[0].frame_id'),
    (make_request(pinned_robot='ghost'), 'pinned_robot'),
    (make_request(capabilities=('teleport',)), 'capabilities[0]'),
    (make_request(callback_url='ftp://x'), 'callback_url'),
    (make_request(deadline=0.5), 'deadline'),
])
def test_invalid_or_impossible_missions_rejected_naming_field(req: MissionRequest,
                                                              field: str) -> None:
    with pytest.raises(ValidationError) as info:
        board().submit(req, ROBOTS, now=1.0)
    assert info.value.field == field


def test_idempotency_key() -> None:
    b = board()
    m1, dup, _ = b.submit(make_request(1, 1, idempotency_key='k'), ROBOTS, 0.0)
    m2, dup2, res = b.submit(make_request(1, 1, idempotency_key='k'), ROBOTS, 1.0)
    assert m1 is m2 and dup2 and not dup and res.events == []
    with pytest.raises(Conflict):
        b.submit(make_request(2, 2, idempotency_key='k'), ROBOTS, 2.0)


def test_cancel() -> None:
    b = board()
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    m, res = b.cancel('m1', 'customer', 1.0)
    assert m.state == MissionState.CANCELED
    assert res.commands == [CancelOnRobot('r1', 'm1', 'customer', 1)]
    with pytest.raises(Conflict):
        b.cancel('m1', '', 2.0)
    with pytest.raises(NotFound):
        b.cancel('nope', '', 2.0)


def test_battery_floor_and_docking() -> None:
    b = board(battery_floor=0.3)
    b.submit(make_request(), ROBOTS, 0.0)
    low = make_robot('r1', 5, 5, battery=0.2, dock='d1')
    res = b.assign([low], 1.0)
    assert res.commands == [SendToDock('r1', 'd1')]
    assert b.assign([low], 2.0).commands == []  # sent once
    # Charging robot above the floor takes work again.
    res = b.assign([make_robot('r1', 1, 0, battery=0.5, mode=Mode.CHARGING, dock='d1')], 3.0)
    assert [type(c) for c in res.commands] == [Dispatch]


def planned(b: MissionBoard, robots: list) -> tuple:
    """A round planned from the board as it is now, and the records by id."""
    inp = b.round_input(robots)
    assert inp is not None
    return plan_round(inp), {r.robot_id: r for r in robots}


def test_planning_a_round_changes_nothing_on_the_board() -> None:
    b = board()
    b.submit(make_request(0, 0), ROBOTS, 0.0)
    plan, _ = planned(b, [make_robot('r1'), make_robot('r2', 9, 9)])
    assert [(a.mission_id, a.robot_id) for a in plan.assignments] == [('m1', 'r1')]
    assert b.get('m1').state == MissionState.QUEUED and b.take_dirty() == [b.get('m1')]
    assert b.get('m1').attempts == 0 and b.mission_of('r1') is None
    assert b.round_input([]) is not None
    b.cancel('m1', '', 1.0)
    assert b.round_input([make_robot('r1')]) is None  # nothing queued: no round


@pytest.mark.parametrize('meanwhile', ['robot offline', 'robot took a mission',
                                       'mission canceled', 'capability gone'])
def test_a_decision_gone_stale_before_it_is_applied_is_dropped(meanwhile: str) -> None:
    b = board()
    b.submit(make_request(0, 0, capabilities=('tote',)), ROBOTS, 0.0)
    robots = [make_robot('r1'), make_robot('r2', 9, 9)]
    plan, by_id = planned(b, robots)
    assert plan.assignments[0].robot_id == 'r1'
    # What changes between the planning (without the lock) and the application (with it):
    if meanwhile == 'robot offline':
        by_id['r1'].connectivity = Connectivity.OFFLINE
    elif meanwhile == 'robot took a mission':
        by_id['r1'].current_mission_id = 'other'
    elif meanwhile == 'mission canceled':
        b.cancel('m1', 'client', 0.5)
    else:
        by_id['r1'].capabilities = ('lift',)
    res, stale = b.apply_round(plan, by_id.get, 1.0)
    assert stale and res.commands == [] and res.events == []
    if meanwhile != 'mission canceled':
        assert b.get('m1').state == MissionState.QUEUED and b.get('m1').attempts == 0
        # The next round, planned afresh, gives it to the other robot.
        res, stale = b.apply_round(planned(b, robots)[0], by_id.get, 2.0)
        assert not stale and [c.robot_id for c in res.commands] == ['r2']


def test_applied_round_docks_the_robots_low_at_planning_and_clears_recharged_ones() -> None:
    b = board(battery_floor=0.3)
    b.submit(make_request(), ROBOTS, 0.0)
    low, ok = make_robot('r1', 5, 5, battery=0.2, dock='d1'), make_robot('r2', 9, 9)
    plan, by_id = planned(b, [low, ok])
    assert plan.low_battery == ('r1',)
    res, stale = b.apply_round(plan, by_id.get, 1.0)
    assert not stale and res.commands[0] == SendToDock('r1', 'd1')
    assert [type(c) for c in res.commands] == [SendToDock, Dispatch]
    # Recharged: r1 is no longer docking, so it may be sent again once low (rounds run
    # while a mission pinned to an absent robot stays queued).
    b.submit(make_request(pinned_robot='r3'), ROBOTS, 2.0)
    low.battery, low.mode = 0.9, Mode.CHARGING
    assert b.apply_round(planned(b, [low])[0], by_id.get, 3.0)[0].commands == []
    low.battery, low.mode = 0.1, Mode.IDLE
    res, _ = b.apply_round(planned(b, [low])[0], by_id.get, 5.0)
    assert res.commands == [SendToDock('r1', 'd1')]


def test_decommission_requeues_assigned_and_optionally_active() -> None:
    b = board()
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    b.on_started('m1', 1, 'r1', 0.1)
    assert b.set_in_service('r1', False, False, 1.0).events == []  # active: left to finish
    res = b.set_in_service('r1', False, True, 2.0)
    assert b.get('m1').state == MissionState.QUEUED
    assert res.commands == [CancelOnRobot('r1', 'm1', 'robot decommissioned', 1)]


def test_deadline_passes_while_queued() -> None:
    b = board()
    b.submit(make_request(deadline=10.0), ROBOTS, 0.0)
    assert b.tick(10.0).events == []
    assert b.tick(10.1).events[0].payload['state'] == 'failed'


def test_prune_forgets_finished_missions_but_keeps_idempotency() -> None:
    b = board()
    b.submit(make_request(1, 1, idempotency_key='k1'), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    b.on_started('m1', 1, 'r1', 1.0)
    b.on_result('m1', 1, 'r1', Outcome.SUCCEEDED, '', 2.0)
    b.submit(make_request(2, 2), ROBOTS, 3.0)
    b.take_dirty()
    assert b.prune(now=100.0, keep_s=200.0) == 0
    assert b.prune(now=300.0, keep_s=200.0) == 1  # only the finished one
    assert [m.id for m in b.missions()] == ['m2']
    with pytest.raises(Pruned) as info:
        b.submit(make_request(1, 1, idempotency_key='k1'), ROBOTS, 301.0)
    assert info.value.mission_id == 'm1'
    with pytest.raises(Conflict):
        b.submit(make_request(9, 9, idempotency_key='k1'), ROBOTS, 302.0)
    fresh = board()
    fresh.restore_keys([('k1', 'm1', make_request(1, 1, idempotency_key='k1').body_hash())])
    with pytest.raises(Pruned):
        fresh.submit(make_request(1, 1, idempotency_key='k1'), ROBOTS, 303.0)


def test_a_robot_that_lost_its_active_mission_fails_the_attempt_at_once() -> None:
    b = board(robot_lost_after=300.0)
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    b.on_started('m1', 1, 'r1', 0.5)
    # Not all its events are committed yet: it may be reporting the outcome: wait.
    assert b.on_robot_status(make_robot('r1'), False, 1.0).events == []
    ev = b.on_robot_status(make_robot('r1'), True, 1.1).events
    assert ev[0].payload['state'] == 'queued'
    assert 'not executing' in ev[0].payload['reason']
    again = b.assign([make_robot('r1')], 1.2).commands[0]
    assert again.attempt == 2


def test_an_assigned_mission_is_resent_then_given_up_when_never_taken() -> None:
    b = board(dispatch_retry=2.0, dispatch_timeout=10.0)
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    assert b.redispatch(1.0).commands == []
    resent = b.redispatch(2.0).commands
    assert [(c.robot_id, c.attempt) for c in resent] == [('r1', 1)]
    assert b.on_robot_status(make_robot('r1'), True, 9.0).events == []
    ev = b.on_robot_status(make_robot('r1'), True, 10.0).events
    assert ev[0].payload['state'] == 'queued' and 'did not take' in ev[0].payload['reason']


def test_a_late_outcome_of_a_requeued_attempt_is_not_applied() -> None:
    b = board(robot_lost_after=60.0)
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    b.on_started('m1', 1, 'r1', 0.5)
    b.on_connectivity('r1', Connectivity.OFFLINE, 10.0)
    assert b.tick(70.0).events[0].payload['state'] == 'queued'
    b.assign([make_robot('r2')], 71.0)
    assert b.on_result('m1', 1, 'r1', Outcome.SUCCEEDED, '', 80.0).events == []
    m = b.get('m1')
    assert m.state == MissionState.ASSIGNED and m.robot_id == 'r2' and m.attempts == 2


def test_a_refused_mission_goes_elsewhere() -> None:
    b = board()
    b.submit(make_request(), ROBOTS, 0.0)
    b.assign([make_robot('r1')], 0.0)
    ev = b.on_refused('m1', 1, 'r1', 'executing mission m9', 0.5).events
    assert ev[0].payload['state'] == 'queued' and 'refused' in ev[0].payload['reason']
