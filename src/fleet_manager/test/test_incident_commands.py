"""Robot commands on the incident timeline: the stuck rule's pause, the robot carrying it out,
and an operator's resume all show on the robot's open incident. Pure (no ROS), fake clock."""

from __future__ import annotations

from test_incident_flow import FakeClock, make_flow, record, robot_event, stuck

from fleet_manager.core.model import NewEvent
from fleet_manager.incident_flow import command_timeline_entry


def operator_command(command: str, who: str = 'Ann (key ops)', reason: str = 'checked it',
                     robot: str = 'robot1') -> NewEvent:
    return NewEvent('robot.command', robot, {'command': command, 'args': {}, 'who': who,
                                             'reason': reason, 'command_id': 7})


def test_pause_and_resume_are_on_the_open_incidents_timeline() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    res = stuck(flow, clock)
    assert [c.command for c in res.commands] == ['pause']  # the shipped stuck rule
    incident = res.incidents[0]
    assert [e.kind for e in incident.timeline][-1] == 'command'

    clock.now += 2.0
    done = flow.on_event(robot_event('command', severity=0, seq=10, command='pause',
                                     command_id=7), record(), clock.now)
    assert [i.id for i in done.incidents] == [incident.id]
    entry = incident.timeline[-1]
    assert (entry.kind, entry.who, entry.note) == ('robot', 'robot1', 'robot carried out pause')

    clock.now += 60.0
    resumed = flow.on_event(operator_command('resume'), record(), clock.now)
    assert [i.id for i in resumed.incidents] == [incident.id]
    entry = incident.timeline[-1]
    assert (entry.kind, entry.who) == ('command', 'Ann (key ops)')
    assert entry.note == 'Ann (key ops) sent resume: checked it'
    assert entry.data['command'] == 'resume'


def test_no_timeline_entry_without_an_open_incident_or_for_a_rules_own_command() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    res = flow.on_event(operator_command('pause'), record(), clock.now)
    assert not res.incidents
    assert command_timeline_entry(operator_command('pause', who='rule')) is None
    assert command_timeline_entry(operator_command('configure')) is None
    refused = command_timeline_entry(robot_event('command_refused', command='return_to_dock',
                                                 reason='executing mission m-1'))
    assert refused is not None and refused[0] == 'robot_refused'
    assert refused[2] == 'robot refused return_to_dock: executing mission m-1'
