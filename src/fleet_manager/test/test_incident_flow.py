"""IncidentFlow: facts to incidents, commands, escalation, bags and persistence (fake clock).

The flow runs with the real config/workflows.yaml, config/runbooks and config/fleet.yaml.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from fleet_manager.core.config import load_fleet_config
from fleet_manager.core.errors import ConfigError, IncidentNotFound, InvalidTransition
from fleet_manager.core.incidents import IncidentState, sequential_ids
from fleet_manager.core.model import Connectivity, Mode, NewEvent, Pose, RobotRecord
from fleet_manager.core.rules import Workflows, load_workflows, parse_workflows
from fleet_manager.core.runbooks import load_runbooks
from fleet_manager.incident_flow import (
    INCIDENT_ACKNOWLEDGED,
    INCIDENT_ESCALATED,
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    NOTIFICATION_SENT,
    BagRequest,
    CommandRequest,
    FlowResult,
    IncidentFlow,
)

REPO = pathlib.Path(__file__).resolve().parents[3]
CONFIG = REPO / 'src' / 'fleet_bringup' / 'config'
T0 = 1736150400.0  # 2025-01-06 08:00 UTC = 09:00 local (+01:00): day shift, alice on call
AISLE_B = (12.0, 8.0)


class FakeClock:
    """A settable clock; the flow reads it only when a method gets no ``now``."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_flow(clock: FakeClock, workflows: Workflows | None = None,
              ids: Any = None) -> IncidentFlow:
    return IncidentFlow(workflows or load_workflows(CONFIG / 'workflows.yaml'),
                        load_runbooks(CONFIG / 'runbooks'),
                        load_fleet_config(CONFIG / 'fleet.yaml'), clock,
                        ids or sequential_ids())


def record(robot: str = 'robot1', x: float = AISLE_B[0], y: float = AISLE_B[1],
           battery: float = 0.8, mission: str = 'm-1', version: str = '2.3.1') -> RobotRecord:
    return RobotRecord(robot_id=robot, connectivity=Connectivity.ONLINE, mode=Mode.WORKING,
                       battery=battery, pose=Pose(x, y, 0.5), software_version=version,
                       group='floor', dock='dock_1', current_mission_id=mission,
                       last_seen=T0)


def robot_event(type_: str, robot: str = 'robot1', seq: int = 1, severity: int = 1,
                **data: Any) -> NewEvent:
    payload = {'type': type_, 'severity': severity, 'message': f'{type_} happened',
               'data': data, 'seq': seq}
    return NewEvent('robot.event', robot, payload, mission_id=str(data.get('mission_id', '')))


def recovery(flow: IncidentFlow, clock: FakeClock, seq: int, rec: RobotRecord | None = None,
             dt: float = 60.0) -> FlowResult:
    clock.now += dt
    return flow.on_event(robot_event('recovery_started', seq=seq, behavior='spin',
                                     goal_id=f'g{seq}'), rec or record(), clock.now)


def kinds(res: FlowResult) -> list[str]:
    return [e.kind for e in res.events]


def stuck(flow: IncidentFlow, clock: FakeClock, first_seq: int = 1) -> FlowResult:
    """Feed status samples, then three recoveries a minute apart; return the last result."""
    for i in range(5):
        clock.now += 1.0
        flow.on_status(record(x=AISLE_B[0] + 0.1 * i), clock.now)
    res = FlowResult()
    for seq in range(first_seq, first_seq + 3):
        res = recovery(flow, clock, seq)
    return res


# -- opening -----------------------------------------------------------------------------------

def test_three_recoveries_open_one_stuck_incident_with_context() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    clock.now += 1.0
    diagnostics: dict[str, Any] = {'from': 0, 'to': 2, 'components': ['motors']}
    flow.on_event(robot_event('diagnostics_level', severity=2, **diagnostics), record(),
                  clock.now)
    flow.record_config_change({'what': 'workflows.yaml', 'by': 'alice'}, clock.now)
    for i in range(5):
        clock.now += 1.0
        assert not flow.on_status(record(x=AISLE_B[0] + 0.1 * i), clock.now)
    assert not recovery(flow, clock, 1) and not recovery(flow, clock, 2)
    assert flow.list() == []

    res = recovery(flow, clock, 3)
    [inc] = flow.list()
    assert res.incidents == [inc]
    assert (inc.type, inc.severity.value, inc.robot_id, inc.mission_id, inc.area) == (
        'robot_stuck', 'SEV2', 'robot1', 'm-1', 'aisle_b')
    assert inc.count == 3 and inc.state == IncidentState.TRIGGERED
    assert inc.opened_at == clock.now and inc.pose == Pose(*AISLE_B, 0.5)
    ctx = inc.context
    assert [s['x'] for s in ctx['trajectory']] == pytest.approx([12.0, 12.1, 12.2, 12.3, 12.4])
    assert ctx['trajectory'][0].keys() == {'time', 'x', 'y', 'theta', 'battery', 'mode'}
    assert ctx['software_version'] == '2.3.1'
    assert ctx['last_diagnostics']['to'] == 2 and ctx['last_diagnostics']['components'] == [
        'motors']
    assert ctx['config_changes'][0]['what'] == 'workflows.yaml'
    assert [e['kind'] for e in ctx['recent_events']] == [
        'diagnostics_level', 'recovery_started', 'recovery_started', 'recovery_started']
    assert inc.runbook is not None and inc.runbook['title'].startswith('Robot stuck')
    assert len(inc.runbook['steps']) >= 3
    assert inc.recurrence['text'] == '1st time this week in aisle_b'

    # Opened, paged level 1 (alice is on the day shift on the epoch day), paused, bagged.
    assert kinds(res) == [INCIDENT_OPENED, NOTIFICATION_SENT]
    opened = res.events[0]
    assert opened.robot_id == 'robot1' and opened.mission_id == 'm-1'
    assert opened.payload['id'] == inc.id and opened.payload['count'] == 3
    [note] = res.notifications
    assert note == res.events[1].payload
    assert (note['target'], note['channel'], note['level'], note['reason']) == (
        'alice', 'pager', 1, 'opened')
    assert note['address'] == '+49 151 0000001' and inc.id in note['message']
    assert res.commands == [CommandRequest('robot1', 'pause', res.commands[0].args)]
    assert res.commands[0].args['reason'].startswith('stuck robot: 3 x recovery_started')
    assert res.bags == [BagRequest(inc.id, 'robot1', clock.now - 60.0, clock.now)]
    assert [e.kind for e in inc.timeline] == ['opened', 'notified', 'command']
    json.dumps(inc.to_dict())
    json.dumps([e.payload for e in res.events])


def test_fourth_recovery_updates_the_incident() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    stuck(flow, clock)
    res = recovery(flow, clock, 4)
    [inc] = flow.list()
    assert inc.count == 4 and inc.last_seen == clock.now
    assert kinds(res) == [INCIDENT_UPDATED] and res.events[0].payload['count'] == 4
    assert res.incidents == [inc]
    assert res.commands == [] and res.bags == [] and res.notifications == []
    assert inc.timeline[-1].kind == 'repeat'
    # One failed recovery is normal Nav2 behaviour: the shipped rule needs three.
    clock.now += 1.0
    res = flow.on_event(robot_event('recovery_failed', seq=5, severity=2), record(), clock.now)
    assert inc.count == 4 and res.commands == []
    # The 6th recovery fires the count rule again: still one incident, no second pause.
    recovery(flow, clock, 6)
    res = recovery(flow, clock, 7)
    assert len(flow.list()) == 1 and inc.count == 6 and res.commands == []


def test_unrelated_events_do_not_fold_into_the_incident() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    stuck(flow, clock)
    [inc] = flow.list()
    clock.now += 1.0
    assert not flow.on_event(robot_event('battery_low', seq=10), record(), clock.now)
    assert not flow.on_event(robot_event('recovery_started', robot='robot2', seq=1),
                             record('robot2'), clock.now)
    assert inc.count == 3


# -- escalation ----------------------------------------------------------------------------

def test_escalates_to_level_two_after_the_timeout() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    stuck(flow, clock)
    [inc] = flow.list()
    opened = inc.opened_at
    assert not flow.tick(opened + 299.0)
    res = flow.tick(opened + 300.0)
    assert kinds(res) == [INCIDENT_ESCALATED, NOTIFICATION_SENT]
    assert res.events[0].payload['level'] == 2 and res.events[0].payload['reason'] == 'escalated'
    [note] = res.notifications
    assert (note['target'], note['level'], note['incident_id']) == ('shift_lead', 2, inc.id)
    assert res.incidents == [inc] and inc.escalation.level == 2
    assert inc.timeline[-1].kind == 'notified'
    assert not flow.tick(opened + 301.0)


def test_acknowledge_stops_escalation() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    stuck(flow, clock)
    [inc] = flow.list()
    res = flow.acknowledge(inc.id, 'alice', 'on my way', inc.opened_at + 100.0)
    assert kinds(res) == [INCIDENT_ACKNOWLEDGED] and res.incidents == [inc]
    assert res.events[0].payload['who'] == 'alice'
    assert res.events[0].payload['state'] == 'acknowledged'
    for dt in (300.0, 900.0, 1800.0):
        assert not flow.tick(inc.opened_at + dt)
    assert inc.escalation.level == 1
    with pytest.raises(InvalidTransition):
        flow.acknowledge(inc.id, 'bob', '', clock.now)
    with pytest.raises(IncidentNotFound):
        flow.acknowledge('INC-999999', 'bob', '', clock.now)


def test_resolve_records_the_note() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    stuck(flow, clock)
    [inc] = flow.list()
    clock.now += 120.0
    res = flow.resolve(inc.id, 'bob', 'pallet in aisle B removed', clock.now)
    assert kinds(res) == [INCIDENT_RESOLVED]
    assert res.events[0].payload['note'] == 'pallet in aisle B removed'
    assert inc.state == IncidentState.RESOLVED and inc.resolved_by == 'bob'
    assert inc.timeline[-1].kind == 'resolved'
    assert inc.timeline[-1].note == 'pallet in aisle B removed'
    assert not flow.tick(clock.now + 10_000.0)
    with pytest.raises(InvalidTransition):
        flow.resolve(inc.id, 'bob', '', clock.now)


def test_second_episode_after_resolution_says_it_recurred() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    stuck(flow, clock)
    [first] = flow.list()
    clock.now += 600.0
    flow.resolve(first.id, 'bob', 'cleared', clock.now)
    clock.now += 3600.0
    res = stuck(flow, clock, first_seq=10)
    second = res.incidents[0]
    assert second.id != first.id and second.state == IncidentState.TRIGGERED
    assert second.area == 'aisle_b'
    assert second.recurrence['text'] == '2nd time this week in aisle_b'
    assert second.recurrence['previous'] == [first.id]
    assert res.events[0].payload['recurrence'] == '2nd time this week in aisle_b'
    assert [c.command for c in res.commands] == ['pause']
    assert [i.id for i in flow.list(state='resolved')] == [first.id]
    assert [i.id for i in flow.list()] == [second.id, first.id]


# -- floods and loops ----------------------------------------------------------------------

def test_flood_of_duplicates_opens_one_incident() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    rec = record()
    events = commands = notifications = updates = 0
    for seq in range(1, 5001):
        res = recovery(flow, clock, seq, rec, dt=0.01)
        events += len(res.events)
        commands += len(res.commands)
        notifications += len(res.notifications)
        updates += kinds(res).count(INCIDENT_UPDATED)
    [inc] = flow.list()
    assert inc.count == 5000
    assert commands == 1 and notifications == 1
    assert updates < 100 and events < 110
    assert len(inc.timeline) < 40 and inc.suppressed_repeats > 4900


def test_own_events_fed_back_are_ignored() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    res = stuck(flow, clock)
    for event in res.events:
        assert not flow.on_event(event, record(), clock.now)
    assert len(flow.list()) == 1


# -- other rules -------------------------------------------------------------------------------

def test_battery_critical_on_mission_sends_the_robot_to_its_dock() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    assert not flow.on_status(record(battery=0.5), clock.now)
    clock.now += 1.0
    res = flow.on_status(record(battery=0.12), clock.now)
    [inc] = res.incidents
    assert (inc.type, inc.severity.value, inc.count) == ('battery_critical', 'SEV1', 1)
    assert inc.escalation.policy == 'urgent'
    [cmd] = res.commands
    assert (cmd.robot_id, cmd.command) == ('robot1', 'return_to_dock')
    assert (cmd.args['dock'], cmd.args['x'], cmd.args['y']) == ('dock_1', 2.0, 1.0)
    # urgent level 1 is the operator on call and the ops chat
    assert sorted(n['target'] for n in res.notifications) == ['alice', 'ops_chat']
    clock.now += 1.0
    assert not flow.on_status(record(battery=0.11), clock.now)


def test_connectivity_and_safety_stop() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    flow.on_status(record(), clock.now)
    clock.now += 30.0
    res = flow.on_event(NewEvent('robot.connectivity', 'robot1',
                                 {'from': 'stale', 'to': 'offline', 'reason': 'no status'}),
                        record(), clock.now)
    assert [i.type for i in res.incidents] == ['robot_offline']
    res = flow.on_event(robot_event('safety_stop', seq=2, severity=2, topic='/robot1/estop'),
                        record(), clock.now)
    assert [i.type for i in res.incidents] == ['safety_stop']
    # the rule's notify action goes to the chat besides the urgent policy's level 1
    assert [n['via'] for n in res.notifications].count('rule:safety stop') == 1


def test_cancel_mission_command_carries_the_current_mission() -> None:
    clock = FakeClock()
    data = {
        'channels': {'ops': {'type': 'dashboard'}},
        'escalation_policies': {'default': {'levels': [{'targets': ['ops'], 'timeout': 60}]}},
        'rules': [{'name': 'give up', 'trigger': {'type': 'event', 'kind': 'nav_aborted'},
                   'actions': [{'open_incident': {'type': 'navigation_failed',
                                                  'severity': 'SEV3'}},
                               {'command': 'cancel_mission'}]},
                  {'name': 'stop', 'trigger': {'type': 'event', 'kind': 'bumper'},
                   'actions': [{'command': 'pause'}]}],
    }
    flow = make_flow(clock, parse_workflows(data, 'test.yaml'))
    res = flow.on_event(robot_event('nav_aborted', seq=1, severity=2), record(mission='m-42'),
                        clock.now)
    [cmd] = res.commands
    assert cmd.command == 'cancel_mission' and cmd.args['mission_id'] == 'm-42'
    # A command without an incident is rate limited per rule, robot and command.
    assert len(flow.on_event(robot_event('bumper', seq=2), record(), clock.now).commands) == 1
    clock.now += 10.0
    assert flow.on_event(robot_event('bumper', seq=3), record(), clock.now).commands == []
    clock.now += 60.0
    flow.tick(clock.now)
    assert len(flow.on_event(robot_event('bumper', seq=4), record(), clock.now).commands) == 1


# -- persistence and queries -------------------------------------------------------------------

def test_restore_continues_incidents_and_ids() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    stuck(flow, clock)
    stored = json.loads(json.dumps(flow.to_dicts()))
    assert IncidentFlow.next_sequence(stored) == 2

    again = make_flow(clock, ids=sequential_ids(start=1))  # a careless generator: skipped
    assert again.restore(stored) == 1
    [inc] = again.list()
    res = recovery(again, clock, 4)
    assert res.incidents == [inc] and inc.count == 4
    # escalation state survived: level 2 is due 300 s after level 1
    assert kinds(again.tick(inc.opened_at + 300.0)) == [INCIDENT_ESCALATED, NOTIFICATION_SENT]
    again.resolve(inc.id, 'bob', 'done', clock.now)
    clock.now += 7200.0
    res = stuck(again, clock, first_seq=20)
    assert res.incidents[0].id == 'INC-000002'


def test_list_filters_and_get() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    stuck(flow, clock)
    clock.now += 1.0
    flow.on_status(record('robot2', battery=0.5), clock.now)
    flow.on_status(record('robot2', battery=0.1), clock.now + 1.0)
    stuck_inc, battery_inc = sorted(flow.list(), key=lambda i: i.opened_at)
    assert flow.get(stuck_inc.id) is stuck_inc
    assert flow.list(robot_id='robot2') == [battery_inc]
    assert flow.list(type='robot_stuck') == [stuck_inc]
    assert flow.list(state=IncidentState.TRIGGERED) == [battery_inc, stuck_inc]
    assert flow.list(since=battery_inc.opened_at) == [battery_inc]
    assert flow.list(until=battery_inc.opened_at) == [stuck_inc]
    with pytest.raises(IncidentNotFound):
        flow.get('nope')
    with pytest.raises(ValueError):
        flow.list(state='sleeping')


def test_invalid_workflows_is_refused_naming_file_and_key(tmp_path: pathlib.Path) -> None:
    text = (CONFIG / 'workflows.yaml').read_text()
    bad = tmp_path / 'workflows.yaml'
    bad.write_text(text.replace('count: 3, window: 600', 'count: 3, window: 0'))
    with pytest.raises(ConfigError) as err:
        load_workflows(bad)
    assert err.value.file == str(bad) and err.value.key == 'rules[0].trigger.window'
    assert str(bad) in str(err.value) and 'rules[0].trigger.window' in str(err.value)
