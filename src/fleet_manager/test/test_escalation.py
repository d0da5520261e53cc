"""Escalation: levels, timeouts, repeats, acknowledgement, on-call rotation (fake time)."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest

from fleet_manager.core.escalation import EscalationConfig, Escalator, Notification, NotifyReason
from fleet_manager.core.incident_model import Severity
from fleet_manager.core.incidents import EscalationState, Incident, IncidentState
from fleet_manager.core.rules import load_workflows, parse_workflows

REPO = pathlib.Path(__file__).resolve().parents[3]
T0 = 1736121600.0  # 2025-01-06 00:00:00 UTC, a Monday: the schedules' epoch
HOUR = 3600.0
DAY = 86400.0

CONFIG: dict[str, Any] = {
    'utc_offset': '+01:00',
    'shifts': {'day': '06:00-18:00', 'night': '18:00-06:00'},
    'channels': {'ops': {'type': 'dashboard'}, 'pager': {'type': 'sms'}},
    'users': {name: 'pager' for name in ('alice', 'bob', 'carol', 'dave', 'lead')},
    'schedules': {
        'operators': {'rotation': 'daily', 'epoch': '2025-01-06', 'shifts': [
            {'name': 'day', 'people': ['alice', 'bob']},
            {'name': 'night', 'people': ['carol', 'dave']}]},
        'weekly': {'rotation': 'weekly', 'epoch': '2025-01-06', 'shifts': [
            {'hours': '00:00-24:00', 'people': ['alice', 'bob', 'carol']}]},
        'days_only': {'epoch': '2025-01-06', 'fallback': 'lead', 'shifts': [
            {'hours': '08:00-16:00', 'people': ['alice']}]},
    },
    'escalation_policies': {
        'default': {'levels': [{'targets': ['oncall:operators'], 'timeout': 300},
                               {'targets': ['lead'], 'timeout': 600}],
                    'repeat': 2, 'ack_timeout': 3600},
        'plain': {'levels': [{'targets': ['alice', 'ops'], 'timeout': 60}]},
        'double': {'levels': [{'targets': ['oncall:operators', 'alice', 'bob'],
                               'timeout': 60}]},
    },
}


def config(**changes: Any) -> EscalationConfig:
    data = copy.deepcopy(CONFIG)
    data.update(changes)
    return parse_workflows(data, 'test.yaml').escalation


def local(hour: float, day: int = 0) -> float:
    """Epoch seconds of local time (UTC+1) ``hour`` on 2025-01-06 + ``day`` days."""
    return T0 + day * DAY + hour * HOUR - HOUR


def incident(opened_at: float, policy: str = 'default') -> Incident:
    return Incident(id='INC-1', type='robot_stuck', severity=Severity.SEV2,
                    robot_id='robot1', opened_at=opened_at, last_seen=opened_at,
                    escalation=EscalationState(policy=policy))


def brief(notes: list[Notification]) -> list[tuple[int, int, str, str]]:
    """(level, repeat, target, reason) of each notification."""
    return [(n.level, n.repeat, n.target, n.reason.value) for n in notes]


# -- on-call -------------------------------------------------------------------------------

@pytest.mark.parametrize('hour,day,person', [
    (10.0, 0, 'alice'),   # epoch day, day shift: first in the list
    (10.0, 1, 'bob'),     # next day: next person
    (10.0, 2, 'alice'),   # and round again
    (17.99, 0, 'alice'),
    (18.0, 0, 'carol'),   # night shift of the epoch day
    (2.0, 1, 'carol'),    # 02:00 on day 1 still belongs to day 0's night shift
    (5.99, 1, 'carol'),
    (6.0, 1, 'bob'),
    (18.0, 1, 'dave'),
    (10.0, -1, 'bob'),    # the day before the epoch
    (2.0, 0, 'dave'),     # 02:00 on the epoch day is the night shift of day -1
])
def test_daily_rotation_picks_the_person_on_shift(hour: float, day: int,
                                                  person: str) -> None:
    assert config().schedules['operators'].on_call(local(hour, day)) == person


@pytest.mark.parametrize('day,person', [
    (0, 'alice'), (6, 'alice'), (7, 'bob'), (13, 'bob'), (14, 'carol'), (21, 'alice'),
    (-1, 'carol')])
def test_weekly_rotation(day: int, person: str) -> None:
    assert config().schedules['weekly'].on_call(local(12.0, day)) == person


def test_fallback_covers_gaps() -> None:
    schedule = config().schedules['days_only']
    assert schedule.on_call(local(9.0)) == 'alice'
    assert schedule.on_call(local(20.0)) == 'lead'


def test_shipped_schedule_resolves() -> None:
    wf = load_workflows(REPO / 'src' / 'fleet_bringup' / 'config' / 'workflows.yaml')
    assert wf.escalation.resolve('oncall:operators', local(10.0)) == [('alice', 'pager')]
    assert wf.escalation.resolve('oncall:operators', local(20.0, 1)) == [('dave', 'pager')]


# -- escalation ----------------------------------------------------------------------------

def test_new_incident_notifies_level_one_once() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    inc = incident(t0)
    notes = esc.tick(t0, [inc])
    assert notes == [Notification('INC-1', 1, 0, 'alice', 'pager', t0, NotifyReason.OPENED,
                                  'oncall:operators', 'default')]
    assert (inc.escalation.level, inc.escalation.next_at) == (1, t0 + 300)
    assert esc.tick(t0 + 1, [inc]) == []


def test_level_two_exactly_at_timeout_not_before() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    inc = incident(t0)
    esc.tick(t0, [inc])
    assert esc.tick(t0 + 299.999, [inc]) == []
    notes = esc.tick(t0 + 300.0, [inc])
    assert brief(notes) == [(2, 0, 'lead', 'escalated')]
    assert notes[0].time == t0 + 300.0 and notes[0].via == 'lead'


def test_repeats_then_stops() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    inc = incident(t0)
    # Hand-computed: level timeouts 300 and 600, repeat 2 -> three passes of two levels.
    expected = {
        0: [(1, 0, 'alice', 'opened')],
        300: [(2, 0, 'lead', 'escalated')],
        900: [(1, 1, 'alice', 'repeat')],
        1200: [(2, 1, 'lead', 'escalated')],
        1800: [(1, 2, 'alice', 'repeat')],
        2100: [(2, 2, 'lead', 'escalated')],
    }
    seen = {}
    for t in range(0, 4000, 50):
        notes = esc.tick(t0 + t, [inc])
        if notes:
            seen[t] = brief(notes)
    assert seen == expected
    assert inc.escalation.exhausted and inc.escalation.next_at is None


def test_acknowledgement_stops_escalation() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    inc = incident(t0, policy='plain')
    assert brief(esc.tick(t0, [inc])) == [(1, 0, 'alice', 'opened'), (1, 0, 'ops', 'opened')]
    inc.acknowledge(t0 + 30, 'alice')
    assert inc.escalation.next_at is None
    assert [esc.tick(t0 + t, [inc]) for t in (60, 600, 86400)] == [[], [], []]


def test_ack_timeout_retriggers_from_level_one() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    inc = incident(t0)
    esc.tick(t0, [inc])
    esc.tick(t0 + 300, [inc])                   # level 2
    inc.acknowledge(t0 + 400, 'lead')
    assert esc.tick(t0 + 900, [inc]) == []      # no repeat while acknowledged
    assert esc.tick(t0 + 3999.9, [inc]) == []   # ack at 400 + 3600 s
    notes = esc.tick(t0 + 4000, [inc])
    assert brief(notes) == [(1, 0, 'alice', 'ack_timeout')]
    assert inc.state == IncidentState.TRIGGERED
    assert inc.timeline[-1].kind == 'retriggered'
    assert brief(esc.tick(t0 + 4300, [inc])) == [(2, 0, 'lead', 'escalated')]
    inc.acknowledge(t0 + 4400, 'lead')          # acknowledging again is allowed
    inc.resolve(t0 + 5000, 'lead')
    assert esc.tick(t0 + 20000, [inc]) == []


def test_no_notifications_for_resolved_unpoliced_or_early_acknowledged() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    done, quiet, early = incident(t0), incident(t0, policy=''), incident(t0)
    done.resolve(t0, 'alice')
    early.acknowledge(t0, 'alice')
    assert esc.tick(t0, [done, quiet, early]) == []


def test_on_call_is_resolved_at_notification_time() -> None:
    esc = Escalator(config())
    t0 = local(17.0, day=0) + 50 * 60.0   # 17:50, day shift: alice
    inc = incident(t0, policy='default')
    assert brief(esc.tick(t0, [inc])) == [(1, 0, 'alice', 'opened')]
    esc.tick(t0 + 300, [inc])
    # The repeat at 17:50 + 300 s + 600 s = 18:05 reaches the night shift.
    assert brief(esc.tick(t0 + 900, [inc])) == [(1, 1, 'carol', 'repeat')]


def test_one_person_is_paged_once_per_level() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    notes = esc.tick(t0, [incident(t0, policy='double')])
    assert [n.target for n in notes] == ['alice', 'bob']


def test_escalate_now_and_policy_switch() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    inc = incident(t0)
    esc.tick(t0, [inc])
    assert brief(esc.escalate_now(inc, t0 + 10)) == [(2, 0, 'lead', 'escalated')]
    assert inc.escalation.next_at == t0 + 610
    # A new policy starts at its level 1.
    notes = esc.escalate_now(inc, t0 + 20, policy='plain')
    assert brief(notes) == [(1, 0, 'alice', 'escalated'), (1, 0, 'ops', 'escalated')]
    assert inc.escalation.policy == 'plain' and inc.escalation.next_at == t0 + 80
    # 'plain' has one level and no repeat: escalating again exhausts it...
    assert esc.escalate_now(inc, t0 + 30) == [] and inc.escalation.exhausted
    # ...and once exhausted, escalating by hand pages the last level again.
    assert brief(esc.escalate_now(inc, t0 + 40)) == [(1, 0, 'alice', 'escalated'),
                                                     (1, 0, 'ops', 'escalated')]
    with pytest.raises(KeyError):
        esc.escalate_now(inc, t0 + 50, policy='gold')
    inc.acknowledge(t0 + 60, 'alice')
    assert esc.escalate_now(inc, t0 + 70) == []


def test_unknown_policy_falls_back_to_default_after_restart() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    inc = Incident.from_dict(incident(t0, policy='removed_policy').to_dict())
    assert brief(esc.tick(t0, [inc])) == [(1, 0, 'alice', 'opened')]


def test_escalation_state_survives_persistence() -> None:
    esc = Escalator(config())
    t0 = local(10.0)
    inc = incident(t0)
    esc.tick(t0, [inc])
    restored = Incident.from_dict(inc.to_dict())
    assert esc.tick(t0 + 299, [restored]) == []
    assert brief(esc.tick(t0 + 300, [restored])) == [(2, 0, 'lead', 'escalated')]
