"""Rule engine: triggers, conditions, actions and workflows.yaml validation (fake time)."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest
import yaml

from fleet_manager.core.errors import ConfigError
from fleet_manager.core.incident_model import (
    Command,
    CommandAction,
    EscalateAction,
    FleetFact,
    NotifyAction,
    OpenIncidentAction,
    Severity,
    Telemetry,
)
from fleet_manager.core.rules import (
    ACTIONS,
    CONDITIONS,
    TRIGGERS,
    RuleEngine,
    Workflows,
    load_workflows,
)

REPO = pathlib.Path(__file__).resolve().parents[3]
T0 = 1736121600.0  # 2025-01-06 00:00:00 UTC, a Monday
HOUR = 3600.0

BASE: dict[str, Any] = {
    'version': 1,
    'utc_offset': '+01:00',
    'shifts': {'day': '06:00-22:00', 'night': '22:00-06:00'},
    'channels': {'ops': {'type': 'dashboard'}, 'pager': {'type': 'sms'}},
    'users': {'alice': {'channel': 'pager'}, 'bob': 'pager', 'lead': {'channel': 'pager'}},
    'schedules': {'operators': {'rotation': 'daily', 'epoch': '2025-01-06', 'shifts': [
        {'name': 'day', 'people': ['alice']}, {'name': 'night', 'people': ['bob']}]}},
    'escalation_policies': {'default': {'levels': [
        {'targets': ['oncall:operators'], 'timeout': 300},
        {'targets': ['lead'], 'timeout': 600}], 'repeat': 2}},
    'rules': [
        {'name': 'stuck robot',
         'trigger': {'type': 'count', 'kind': 'recovery_started', 'count': 3, 'window': 600},
         'actions': [{'open_incident': {'type': 'robot_stuck', 'severity': 'SEV2'}},
                     {'command': 'pause'}]},
    ],
}


def write(tmp_path: pathlib.Path, data: Any) -> pathlib.Path:
    path = tmp_path / 'workflows.yaml'
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def engine_for(tmp_path: pathlib.Path, *rules: dict[str, Any],
               **top: Any) -> RuleEngine:
    data = copy.deepcopy(BASE)
    data['rules'] = list(rules)
    data.update(top)
    return RuleEngine(load_workflows(write(tmp_path, data)))


def fact(kind: str, t: float, robot: str = 'robot1', **kw: Any) -> FleetFact:
    return FleetFact(kind=kind, robot_id=robot, time=t, **kw)


def battery(level: float | None, t: float, on_mission: bool = True,
            robot: str = 'robot1') -> Telemetry:
    return Telemetry(robot_id=robot, time=t, battery=level, on_mission=on_mission,
                     mission_id='m-1' if on_mission else None)


STUCK = {'name': 'stuck',
         'trigger': {'type': 'count', 'kind': 'recovery_started', 'count': 3, 'window': 600},
         'actions': [{'open_incident': {'type': 'robot_stuck', 'severity': 'SEV2'}},
                     {'command': 'pause'}]}


# -- the shipped example -------------------------------------------------------------------

def test_shipped_workflows_load() -> None:
    wf = load_workflows(REPO / 'src' / 'fleet_bringup' / 'config' / 'workflows.yaml')
    assert isinstance(wf, Workflows)
    names = [r.name for r in wf.rules]
    assert names[:5] == ['stuck robot', 'recoveries failing', 'navigation aborted',
                         'battery critical on mission', 'robot offline']
    assert 'mission failed' in names
    assert wf.escalation.default_policy == 'default'
    policy = wf.escalation.policies['default']
    assert [lv.targets for lv in policy.levels] == [('oncall:operators',), ('shift_lead',)]
    assert [lv.timeout for lv in policy.levels] == [300.0, 600.0] and policy.repeat == 2
    assert wf.utc_offset == HOUR


def test_shipped_stuck_rule_opens_sev2_and_pauses() -> None:
    engine = RuleEngine(load_workflows(
        REPO / 'src' / 'fleet_bringup' / 'config' / 'workflows.yaml'))
    out = [engine.on_fact(fact('recovery_started', T0 + t)) for t in (0.0, 100.0, 200.0)]
    assert out[0] == [] and out[1] == []
    kinds = [(type(a).__name__, getattr(a, 'type', getattr(a, 'command', None)))
             for a in out[2]]
    assert kinds == [('OpenIncidentAction', 'robot_stuck'),
                     ('CommandAction', Command.PAUSE)]
    opened = out[2][0]
    assert isinstance(opened, OpenIncidentAction)
    assert opened.severity == Severity.SEV2 and opened.policy == 'default'


def test_registries_hold_every_documented_name() -> None:
    assert set(TRIGGERS) == {'event', 'count', 'threshold', 'offline', 'mission_failed'}
    assert set(ACTIONS) == {'open_incident', 'notify', 'command', 'escalate'}
    assert set(CONDITIONS) == {'group', 'site', 'area', 'robot', 'shift', 'hours'}


# -- count ---------------------------------------------------------------------------------

def test_count_fires_exactly_on_third_event_inside_window(tmp_path: pathlib.Path) -> None:
    engine = engine_for(tmp_path, STUCK)
    assert engine.on_fact(fact('recovery_started', 0.0)) == []
    assert engine.on_fact(fact('recovery_started', 300.0)) == []
    actions = engine.on_fact(fact('recovery_started', 599.0))
    assert [type(a) for a in actions] == [OpenIncidentAction, CommandAction]
    assert all(a.rule == 'stuck' and a.robot_id == 'robot1' and a.time == 599.0
               for a in actions)
    assert actions[0].fact.kind == 'recovery_started'


def test_count_window_edge_is_inclusive(tmp_path: pathlib.Path) -> None:
    engine = engine_for(tmp_path, STUCK)
    engine.on_fact(fact('recovery_started', 0.0))
    engine.on_fact(fact('recovery_started', 300.0))
    assert len(engine.on_fact(fact('recovery_started', 600.0))) == 2


def test_count_does_not_fire_when_first_event_fell_out(tmp_path: pathlib.Path) -> None:
    engine = engine_for(tmp_path, STUCK)
    engine.on_fact(fact('recovery_started', 0.0))
    engine.on_fact(fact('recovery_started', 300.0))
    # 601 - 0 > 600: the first one is out, only two remain inside the window.
    assert engine.on_fact(fact('recovery_started', 601.0)) == []
    # 300, 601 and 650 are within 600 s of each other.
    assert len(engine.on_fact(fact('recovery_started', 650.0))) == 2


def test_count_restarts_after_firing_and_is_per_robot(tmp_path: pathlib.Path) -> None:
    engine = engine_for(tmp_path, STUCK)
    for t in (0.0, 10.0):
        engine.on_fact(fact('recovery_started', t))
    engine.on_fact(fact('recovery_started', 5.0, robot='robot2'))
    assert engine.on_fact(fact('recovery_started', 20.0)) != []
    assert engine.on_fact(fact('recovery_started', 30.0)) == []  # 4th: counting afresh
    assert engine.on_fact(fact('recovery_started', 40.0)) == []
    assert engine.on_fact(fact('recovery_started', 50.0)) != []
    # robot2 has one recovery and other kinds do not count.
    assert engine.on_fact(fact('recovery_succeeded', 60.0, robot='robot2')) == []
    assert engine.on_fact(fact('recovery_started', 70.0, robot='robot2')) == []


def test_count_scope_per_area_combines_robots(tmp_path: pathlib.Path) -> None:
    rule = copy.deepcopy(STUCK)
    rule['trigger']['per'] = 'area'
    engine = engine_for(tmp_path, rule)
    assert engine.on_fact(fact('recovery_started', 0.0, 'robot1', area='aisle_b')) == []
    assert engine.on_fact(fact('recovery_started', 1.0, 'robot2', area='aisle_b')) == []
    assert engine.on_fact(fact('recovery_started', 2.0, 'robot3', area='aisle_a')) == []
    actions = engine.on_fact(fact('recovery_started', 3.0, 'robot3', area='aisle_b'))
    assert len(actions) == 2 and actions[0].robot_id == 'robot3'


def test_count_handles_out_of_order_facts(tmp_path: pathlib.Path) -> None:
    engine = engine_for(tmp_path, STUCK)
    engine.on_fact(fact('recovery_started', 1000.0))
    engine.on_fact(fact('recovery_started', 100.0))  # a late replay, 900 s earlier
    assert engine.on_fact(fact('recovery_started', 1100.0)) == []
    assert engine.on_fact(fact('recovery_started', 1200.0)) != []


# -- threshold -----------------------------------------------------------------------------

BATTERY = {'name': 'battery',
           'trigger': {'type': 'threshold', 'field': 'battery', 'below': 0.15,
                       'while_on_mission': True},
           'actions': [{'open_incident': {'type': 'battery_critical', 'severity': 'SEV1'}},
                       {'command': 'return_to_dock'}]}


def test_threshold_fires_on_crossing_and_not_again_until_rearmed(
        tmp_path: pathlib.Path) -> None:
    engine = engine_for(tmp_path, BATTERY)
    assert engine.on_telemetry(battery(0.50, 0.0)) == []
    actions = engine.on_telemetry(battery(0.14, 1.0))
    assert [type(a) for a in actions] == [OpenIncidentAction, CommandAction]
    assert actions[1].command == Command.RETURN_TO_DOCK
    assert actions[0].fact.data == {'field': 'battery', 'value': 0.14, 'below': 0.15}
    assert 'during mission m-1' in actions[0].reason
    assert engine.on_telemetry(battery(0.13, 2.0)) == []
    assert engine.on_telemetry(battery(None, 3.0)) == []  # unknown changes nothing
    assert engine.on_telemetry(battery(0.10, 4.0)) == []
    assert engine.on_telemetry(battery(0.15, 5.0)) == []  # back at the threshold: re-armed
    assert engine.on_telemetry(battery(0.12, 6.0)) != []


def test_threshold_rearm_hysteresis(tmp_path: pathlib.Path) -> None:
    rule = copy.deepcopy(BATTERY)
    rule['trigger']['rearm'] = 0.25
    engine = engine_for(tmp_path, rule)
    assert engine.on_telemetry(battery(0.14, 0.0)) != []
    assert engine.on_telemetry(battery(0.20, 1.0)) == []  # above 0.15 but below rearm
    assert engine.on_telemetry(battery(0.14, 2.0)) == []  # still disarmed
    assert engine.on_telemetry(battery(0.25, 3.0)) == []  # re-armed
    assert engine.on_telemetry(battery(0.14, 4.0)) != []


def test_threshold_only_while_on_mission(tmp_path: pathlib.Path) -> None:
    engine = engine_for(tmp_path, BATTERY)
    assert engine.on_telemetry(battery(0.10, 0.0, on_mission=False)) == []
    assert engine.on_telemetry(battery(0.10, 1.0, on_mission=True)) != []
    assert engine.on_telemetry(battery(0.10, 2.0, on_mission=True, robot='robot2')) != []


def test_threshold_above(tmp_path: pathlib.Path) -> None:
    rule = {'name': 'diag', 'trigger': {'type': 'threshold', 'field': 'diagnostics_level',
                                        'above': 1},
            'actions': [{'notify': 'ops'}]}
    engine = engine_for(tmp_path, rule)
    ok = Telemetry('robot1', 0.0, diagnostics_level=1)
    error = Telemetry('robot1', 1.0, diagnostics_level=2)
    assert engine.on_telemetry(ok) == []
    out = engine.on_telemetry(error)
    assert len(out) == 1 and isinstance(out[0], NotifyAction) and out[0].channel == 'ops'
    assert engine.on_telemetry(error) == []


# -- conditions ----------------------------------------------------------------------------

def local(hour: float, day: int = 0) -> float:
    """Epoch seconds of local time (UTC+1) ``hour`` on 2025-01-06 + ``day``."""
    return T0 + day * 86400.0 + hour * HOUR - HOUR


@pytest.mark.parametrize('hour,night', [
    (21.99, False), (22.0, True), (23.5, True), (0.0, True), (5.99, True), (6.0, False),
    (12.0, False)])
def test_shift_condition_across_midnight(tmp_path: pathlib.Path, hour: float,
                                         night: bool) -> None:
    rule = {'name': 'night nav', 'trigger': {'type': 'event', 'kind': 'nav_aborted'},
            'when': {'shift': 'night'}, 'actions': [{'notify': 'ops'}]}
    engine = engine_for(tmp_path, rule)
    assert bool(engine.on_fact(fact('nav_aborted', local(hour, day=1)))) is night


@pytest.mark.parametrize('hour,inside', [
    (22.99, False), (23.0, True), (1.0, True), (1.5, False), (12.0, True), (13.0, False)])
def test_hours_condition_inline_windows(tmp_path: pathlib.Path, hour: float,
                                        inside: bool) -> None:
    rule = {'name': 'late', 'trigger': {'type': 'event', 'kind': 'nav_aborted'},
            'when': {'hours': ['23:00-01:30', '12:00-13:00']},
            'actions': [{'notify': 'ops'}]}
    engine = engine_for(tmp_path, rule)
    assert bool(engine.on_fact(fact('nav_aborted', local(hour, day=3)))) is inside


def test_group_site_area_robot_conditions(tmp_path: pathlib.Path) -> None:
    rule = {'name': 'heavy in b', 'trigger': {'type': 'event', 'kind': 'nav_aborted'},
            'when': {'group': 'heavy', 'site': ['wh1', 'wh2'], 'area': 'aisle_b',
                     'robot': ['robot4', 'robot5']},
            'actions': [{'notify': 'ops'}]}
    engine = engine_for(tmp_path, rule)
    base = {'group': 'heavy', 'site': 'wh2', 'area': 'aisle_b'}
    assert engine.on_fact(fact('nav_aborted', 0.0, 'robot4', **base)) != []
    for change in ({'group': 'floor'}, {'site': 'wh3'}, {'area': None}):
        assert engine.on_fact(fact('nav_aborted', 0.0, 'robot4', **{**base, **change})) == []
    assert engine.on_fact(fact('nav_aborted', 0.0, 'robot1', **base)) == []


def test_conditions_filter_before_counting(tmp_path: pathlib.Path) -> None:
    rule = copy.deepcopy(STUCK)
    rule['when'] = {'area': 'aisle_b'}
    engine = engine_for(tmp_path, rule)
    engine.on_fact(fact('recovery_started', 0.0, area='aisle_b'))
    engine.on_fact(fact('recovery_started', 1.0, area='aisle_a'))
    assert engine.on_fact(fact('recovery_started', 2.0, area='aisle_b')) == []
    assert engine.on_fact(fact('recovery_started', 3.0, area='aisle_b')) != []


# -- event, offline, mission_failed, actions -------------------------------------------------

def test_event_trigger_with_data_match(tmp_path: pathlib.Path) -> None:
    rule = {'name': 'nav', 'trigger': {'type': 'event', 'kind': 'nav_aborted',
                                       'match': {'error_code': [104, 105]}},
            'actions': [{'open_incident': {'type': 'navigation_failed', 'severity': 'sev3',
                                           'policy': 'none'}}]}
    engine = engine_for(tmp_path, rule)
    assert engine.on_fact(fact('nav_aborted', 0.0, data={'error_code': 101})) == []
    assert engine.on_fact(fact('nav_aborted', 0.0, data={})) == []
    out = engine.on_fact(fact('nav_aborted', 0.0, data={'error_code': 104}))
    assert len(out) == 1 and out[0].severity == Severity.SEV3 and out[0].policy == ''
    assert 'error_code=104' in out[0].reason


def test_offline_fires_once_per_transition(tmp_path: pathlib.Path) -> None:
    rule = {'name': 'offline', 'trigger': {'type': 'offline'},
            'actions': [{'open_incident': {'type': 'robot_offline', 'severity': 'SEV2'}}]}
    engine = engine_for(tmp_path, rule)
    went = fact('robot.connectivity', 0.0, data={'from': 'stale', 'to': 'offline'})
    assert len(engine.on_fact(went)) == 1
    # The same transition seen through telemetry does not fire again.
    assert engine.on_telemetry(Telemetry('robot1', 1.0, connectivity='offline')) == []
    assert engine.on_telemetry(Telemetry('robot1', 2.0, connectivity='online')) == []
    assert len(engine.on_telemetry(Telemetry('robot1', 3.0, connectivity='offline'))) == 1
    # A robot first seen offline (start-up) has no transition to report.
    assert engine.on_telemetry(Telemetry('robot2', 0.0, connectivity='offline')) == []
    back = fact('robot.connectivity', 4.0, data={'from': 'offline', 'to': 'online'})
    assert engine.on_fact(back) == []


def test_mission_failed_notifies(tmp_path: pathlib.Path) -> None:
    rule = {'name': 'mission failed', 'trigger': {'type': 'mission_failed'},
            'actions': [{'notify': {'channel': 'ops', 'message': 'A mission failed'}},
                        {'escalate': None}]}
    engine = engine_for(tmp_path, rule)
    assert engine.on_fact(fact('mission.state', 0.0, data={'state': 'succeeded'})) == []
    out = engine.on_fact(fact('mission.state', 1.0, mission_id='m-7',
                              data={'state': 'FAILED', 'reason': 'timeout'}))
    assert [type(a) for a in out] == [NotifyAction, EscalateAction]
    assert out[0].channel == 'ops' and out[0].message == 'A mission failed'
    assert out[0].reason == 'mission m-7 failed on robot1: timeout'
    assert len(engine.on_fact(fact('mission_failed', 2.0))) == 2


def test_disabled_rule_never_fires(tmp_path: pathlib.Path) -> None:
    rule = {'name': 'off', 'enabled': False, 'trigger': {'type': 'event', 'kind': 'x'},
            'actions': [{'notify': 'ops'}]}
    assert engine_for(tmp_path, rule).on_fact(fact('x', 0.0)) == []


# -- validation: one test per ConfigError case -----------------------------------------------

def mutate(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def trig(**kw: Any) -> Any:
    return lambda d: d['rules'][0]['trigger'].update(kw)


def act(index: int, value: Any) -> Any:
    return lambda d: d['rules'][0]['actions'].__setitem__(index, value)


CONFIG_ERRORS = [
    ('unknown trigger', trig(type='bogus'), 'rules[0].trigger.type', 'unknown trigger'),
    ('unknown action', act(1, {'frobnicate': 'x'}), 'rules[0].actions[1].frobnicate',
     'unknown action'),
    ('unknown condition', lambda d: d['rules'][0].update(when={'weekday': 'mon'}),
     'rules[0].when.weekday', 'unknown condition'),
    ('window zero', trig(window=0), 'rules[0].trigger.window', 'greater than 0'),
    ('window negative', trig(window=-5), 'rules[0].trigger.window', 'greater than 0'),
    ('window not a number', trig(window='ten minutes'), 'rules[0].trigger.window',
     'must be a number'),
    ('count below one', trig(count=0), 'rules[0].trigger.count', 'at least 1'),
    ('count wrong type', trig(count='3'), 'rules[0].trigger.count', 'must be an integer'),
    ('unknown severity', act(0, {'open_incident': {'type': 'robot_stuck',
                                                   'severity': 'SEV5'}}),
     'rules[0].actions[0].open_incident.severity', 'unknown severity'),
    ('missing channel', act(1, {'notify': 'slack'}), 'rules[0].actions[1].notify',
     'unknown channel'),
    ('missing channel in mapping', act(1, {'notify': {'channel': 'slack'}}),
     'rules[0].actions[1].notify.channel', 'unknown channel'),
    ('missing policy', act(0, {'open_incident': {'type': 'robot_stuck', 'severity': 'SEV2',
                                                 'policy': 'gold'}}),
     'rules[0].actions[0].open_incident.policy', 'unknown escalation policy'),
    ('missing escalate policy', act(1, {'escalate': {'policy': 'gold'}}),
     'rules[0].actions[1].escalate.policy', 'unknown escalation policy'),
    ('missing target', lambda d: d['escalation_policies']['default']['levels'][1].update(
        targets=['nobody']), 'escalation_policies.default.levels[1].targets[0]',
     'unknown target'),
    ('missing schedule', lambda d: d['escalation_policies']['default']['levels'][0].update(
        targets=['oncall:nights']), 'escalation_policies.default.levels[0].targets[0]',
     'unknown schedule'),
    ('missing default policy', lambda d: d.update(default_policy='gold'), 'default_policy',
     'unknown policy'),
    ('level timeout zero', lambda d: d['escalation_policies']['default']['levels'][0].update(
        timeout=0), 'escalation_policies.default.levels[0].timeout', 'greater than 0'),
    ('negative repeat', lambda d: d['escalation_policies']['default'].update(repeat=-1),
     'escalation_policies.default.repeat', 'at least 0'),
    ('unknown command', act(1, {'command': 'dance'}), 'rules[0].actions[1].command',
     'unknown command'),
    ('unknown shift', lambda d: d['rules'][0].update(when={'shift': 'weekend'}),
     'rules[0].when.shift', 'unknown shift'),
    ('bad shift window', lambda d: d['shifts'].update(night='22:00-30:00'), 'shifts.night',
     'HH:MM-HH:MM'),
    ('empty hours window', lambda d: d['rules'][0].update(when={'hours': ['08:00-08:00']}),
     'rules[0].when.hours[0]', 'is empty'),
    ('schedule person not a user', lambda d: d['schedules']['operators']['shifts'][0].update(
        people=['alice', 'zoe']), 'schedules.operators.shifts[0].people[1]', 'unknown user'),
    ('schedule gap', lambda d: d['schedules']['operators']['shifts'].pop(),
     'schedules.operators.shifts', 'nobody is on call 22:00-06:00'),
    ('user on unknown channel', lambda d: d['users'].update(carol='fax'),
     'users.carol.channel', 'unknown channel'),
    ('rules not a list', lambda d: d.update(rules={'stuck': {}}), 'rules',
     'must be a list'),
    ('trigger not a mapping', lambda d: d['rules'][0].update(trigger='count'),
     'rules[0].trigger', 'must be a mapping'),
    ('unknown trigger key', trig(windw=600), 'rules[0].trigger.windw', 'unknown key'),
    ('duplicate rule', lambda d: d['rules'].append(copy.deepcopy(d['rules'][0])),
     'rules[1].name', 'duplicate rule name'),
    ('unknown top-level key', lambda d: d.update(rulez=[]), 'rulez', 'unknown key'),
    ('bad utc offset', lambda d: d.update(utc_offset='CET'), 'utc_offset',
     'not a UTC offset'),
    ('threshold needs a side', lambda d: d['rules'].__setitem__(0, {
        'name': 'b', 'trigger': {'type': 'threshold', 'field': 'battery'},
        'actions': [{'notify': 'ops'}]}), 'rules[0].trigger', 'exactly one of below or above'),
    ('threshold unknown field', lambda d: d['rules'].__setitem__(0, {
        'name': 'b', 'trigger': {'type': 'threshold', 'field': 'speed', 'below': 1},
        'actions': [{'notify': 'ops'}]}), 'rules[0].trigger.field', 'unknown telemetry field'),
    ('no actions', lambda d: d['rules'][0].update(actions=[]), 'rules[0].actions',
     'at least one action'),
]


@pytest.mark.parametrize('change,key,words', [c[1:] for c in CONFIG_ERRORS],
                         ids=[c[0] for c in CONFIG_ERRORS])
def test_config_error_names_file_and_key(tmp_path: pathlib.Path, change: Any, key: str,
                                         words: str) -> None:
    path = write(tmp_path, mutate(change))
    with pytest.raises(ConfigError) as info:
        load_workflows(path)
    err = info.value
    assert err.file == str(path)
    assert err.key == key
    assert str(path) in str(err) and key in str(err)
    assert words in str(err)


@pytest.mark.parametrize('offset, seconds', [
    (1, 3600), (-5.5, -19800), ('+01:00', 3600), ('-05:30', -19800), ('UTC', 0), (0, 0),
])
def test_utc_offset_forms(tmp_path: pathlib.Path, offset: Any, seconds: int) -> None:
    # the forms slos.yaml accepts too (fleet_common.timeofday); a night shift starting at
    # local 22:00 starts at 22:00 - offset in UTC
    engine = engine_for(tmp_path, {**STUCK, 'when': {'shift': 'night'}}, utc_offset=offset)
    assert engine.workflows.utc_offset == seconds
    start = T0 + 22 * HOUR - seconds
    facts = [fact('recovery_started', start + i) for i in range(3)]
    assert [len(engine.on_fact(f)) for f in facts] == [0, 0, 2]
    early = engine_for(tmp_path, {**STUCK, 'when': {'shift': 'night'}}, utc_offset=offset)
    assert [len(early.on_fact(fact('recovery_started', start - 60 + i))) for i in range(3)] \
        == [0, 0, 0]


def test_utc_offset_as_unquoted_base60_number_asks_for_quotes(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, 'version: 1\nutc_offset: +1:00\n')  # YAML 1.1 reads it as 60
    with pytest.raises(ConfigError) as info:
        load_workflows(path)
    assert info.value.key == 'utc_offset'
    assert "60 is not a UTC offset: it is outside -14:00..+14:00" in str(info.value)
    assert "quote it: '+01:00'" in str(info.value)


def test_config_error_yaml_syntax_names_file_and_line(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, 'version: 1\nrules:\n  - name: x\n    trigger: {type: event\n')
    with pytest.raises(ConfigError) as info:
        load_workflows(path)
    assert info.value.file == str(path)
    assert info.value.key.startswith('line ')
    assert str(path) in str(info.value) and 'line ' in str(info.value)
    assert 'invalid YAML' in str(info.value)


def test_config_error_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match='file not found'):
        load_workflows(tmp_path / 'nope.yaml')


def test_config_error_is_a_value_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        load_workflows(write(tmp_path, mutate(trig(window=0))))
