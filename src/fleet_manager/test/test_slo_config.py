"""Tests of fleet_manager.core.slo_config: the shipped slos.yaml and every ConfigError case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet_manager.core.errors import ConfigError
from fleet_manager.core.rules import load_workflows
from fleet_manager.core.slo import DEFAULT_ALERT_POLICY, OperatingHours, Severity, Shift
from fleet_manager.core.slo_config import load_slos

WORKSPACE = Path(__file__).resolve().parents[3]
SHIPPED = WORKSPACE / 'src' / 'fleet_bringup' / 'config' / 'slos.yaml'

MISSION = """\
  - name: missions
    sli: mission_success
    objective: 0.95
    period_s: 604800
"""
"""A valid mission_success entry of the `slos` list, as YAML text."""


def mission(drop: str = '', **values: Any) -> dict[str, Any]:
    """Return a valid mission_success entry as a dict, with `values` set, `drop` removed."""
    entry: dict[str, Any] = {'name': 'missions', 'sli': 'mission_success', 'objective': 0.95,
                             'period_s': 604800}
    entry.update(values)
    entry.pop(drop, None)
    return entry


def availability(**hours: Any) -> dict[str, Any]:
    """Return a valid availability entry whose operating_hours are `hours`."""
    return {'name': 'avail', 'sli': 'availability', 'objective': 0.98, 'period_s': 604800,
            'operating_hours': hours}


def write(tmp_path: Path, content: str | dict[str, Any] | list[Any]) -> Path:
    """Write YAML text as given, or dump a document, to tmp_path/slos.yaml."""
    path = tmp_path / 'slos.yaml'
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text, encoding='utf-8')
    return path


def config_error(tmp_path: Path, content: str | dict[str, Any] | list[Any]) -> ConfigError:
    """Load `content` and return the ConfigError it must raise, which names the file."""
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as info:
        load_slos(path)
    assert info.value.file == str(path)
    assert str(path) in str(info.value)
    return info.value


def assert_key(error: ConfigError, key: str) -> None:
    """Check that the error names `key` as its key and in its message."""
    assert error.key == key
    assert key in str(error)


def test_shipped_config_loads() -> None:
    specs = load_slos(SHIPPED)
    assert [(s.name, s.sli, s.objective, s.period_s) for s in specs] == [
        ('mission_success', 'mission_success', 0.95, 7 * 86400),
        ('fleet_availability', 'availability', 0.98, 7 * 86400),
        ('incident_ack_time', 'ack_time', 0.5, 7 * 86400),
    ]
    missions, availability, ack = specs
    assert missions.alerts == DEFAULT_ALERT_POLICY and missions.step_s == 60
    assert availability.operating_hours == OperatingHours(
        (Shift(6 * 60, 14 * 60), Shift(14 * 60, 22 * 60)), 3600)
    assert ack.threshold_s == 300
    assert [(a.name, a.severity, a.burn_rate) for a in ack.alerts] == [
        ('page-6h', Severity.PAGE, 1.8), ('ticket-3d', Severity.TICKET, 1.0)]


def test_minimal_and_full_entries_load(tmp_path: Path) -> None:
    path = write(tmp_path, """\
slos:
  - name: avail
    sli: availability
    objective: 0.99
    period_s: 86400
    step_s: 30
    operating_hours: {utc_offset: '-05:30', shifts: ['22:00-06:00']}
    alerts:
      - {name: fast, severity: page, burn_rate: 10, long_s: 3600, short_s: 300}
""")
    (spec,) = load_slos(path)
    assert spec.step_s == 30
    assert spec.operating_hours == OperatingHours((Shift(22 * 60, 6 * 60),), -(5 * 3600 + 1800))
    assert spec.windows == {'5m': 300, '1h': 3600}
    assert load_slos(write(tmp_path, 'slos: []\n')) == []
    assert load_slos(write(tmp_path, 'slos:\n' + MISSION))[0].alerts == DEFAULT_ALERT_POLICY


@pytest.mark.parametrize('objective', [0, 1, 1.0, -0.5, 1.5])
def test_objective_outside_open_interval(tmp_path: Path, objective: float) -> None:
    error = config_error(tmp_path, {'slos': [mission(), mission(name='b', objective=objective)]})
    assert_key(error, 'slos[1].objective')
    assert 'strictly between 0 and 1' in str(error)


def test_unknown_sli_kind(tmp_path: Path) -> None:
    error = config_error(tmp_path, {'slos': [mission(), mission(name='b', sli='latency_p99')]})
    assert_key(error, 'slos[1].sli')
    assert 'latency_p99' in str(error)


def test_alert_window_shorter_than_step(tmp_path: Path) -> None:
    fast = {'name': 'fast', 'severity': 'page', 'burn_rate': 14.4, 'long_s': 3600,
            'short_s': 300}
    error = config_error(tmp_path, {'slos': [mission(step_s=600, alerts=[fast])]})
    assert_key(error, 'slos[0].alerts[0].short_s')  # 300 s < step 600 s
    assert 'shorter than the step' in str(error)


def test_default_alert_window_shorter_than_step(tmp_path: Path) -> None:
    error = config_error(tmp_path, {'slos': [mission(step_s=600)]})  # default 5 m window
    assert_key(error, 'slos[0].alerts')
    assert 'default alert policy' in str(error)


def test_period_shorter_than_longest_alert_window(tmp_path: Path) -> None:
    error = config_error(tmp_path, {'slos': [mission(period_s=86400)]})
    assert_key(error, 'slos[0].period_s')  # 1 day < the 3 d window of ticket-3d
    assert 'ticket-3d' in str(error)


@pytest.mark.parametrize('shift', ['6:00-14:00', '06:00-25:00', '06:00-06:00', '06:00',
                                   '06:60-14:00', '24:00-06:00', 'day'])
def test_bad_shift_format(tmp_path: Path, shift: str) -> None:
    error = config_error(tmp_path, {'slos': [availability(shifts=['06:00-14:00', shift])]})
    assert_key(error, 'slos[0].operating_hours.shifts[1]')


@pytest.mark.parametrize('offset', ['+1:00', "'+15:00'", "'01:00'", "'+01:75'"])
def test_bad_utc_offset(tmp_path: Path, offset: str) -> None:
    # unquoted +1:00 is a YAML 1.1 base-60 integer (60): a wrong type, asking for quotes
    error = config_error(tmp_path, f"""\
slos:
  - name: avail
    sli: availability
    objective: 0.98
    period_s: 604800
    operating_hours: {{utc_offset: {offset}, shifts: ['06:00-14:00']}}
""")
    assert_key(error, 'slos[0].operating_hours.utc_offset')


AVAILABILITY_WITH_OFFSET = """\
slos:
  - name: avail
    sli: availability
    objective: 0.98
    period_s: 604800
    operating_hours: {{utc_offset: {offset}, shifts: ['06:00-14:00']}}
"""


@pytest.mark.parametrize('offset, seconds', [
    ('1', 3600), ('-5.5', -19800), ("'+01:00'", 3600), ("'-05:30'", -19800), ("'UTC'", 0),
    ('0', 0),
])
def test_utc_offset_forms_are_those_of_workflows(tmp_path: Path, offset: str,
                                                 seconds: int) -> None:
    (spec,) = load_slos(write(tmp_path, AVAILABILITY_WITH_OFFSET.format(offset=offset)))
    assert spec.operating_hours == OperatingHours((Shift(6 * 60, 14 * 60),), seconds)
    workflows = tmp_path / 'workflows.yaml'
    workflows.write_text(f'version: 1\nutc_offset: {offset}\n', encoding='utf-8')
    assert load_workflows(workflows).utc_offset == seconds


@pytest.mark.parametrize('offset', ['+1:00', "'+15:00'", "'01:00'", "'+01:75'", "'CET'",
                                    '1.01', 'true'])
def test_bad_utc_offset_reads_the_same_in_both_files(tmp_path: Path, offset: str) -> None:
    slo_error = config_error(tmp_path, AVAILABILITY_WITH_OFFSET.format(offset=offset))
    assert_key(slo_error, 'slos[0].operating_hours.utc_offset')
    workflows = tmp_path / 'workflows.yaml'
    workflows.write_text(f'version: 1\nutc_offset: {offset}\n', encoding='utf-8')
    with pytest.raises(ConfigError) as info:
        load_workflows(workflows)
    assert info.value.key == 'utc_offset'
    assert slo_error.reason == info.value.reason and 'is not a UTC offset' in slo_error.reason


@pytest.mark.parametrize('missing', ['name', 'sli', 'objective', 'period_s'])
def test_missing_slo_key(tmp_path: Path, missing: str) -> None:
    error = config_error(tmp_path, {'slos': [mission(drop=missing)]})
    assert_key(error, f'slos[0].{missing}')
    assert 'is required' in str(error)


def test_missing_top_level_hours_and_alert_keys(tmp_path: Path) -> None:
    assert_key(config_error(tmp_path, ''), 'slos')  # empty file
    assert_key(config_error(tmp_path, {}), 'slos')
    assert_key(config_error(tmp_path, {'slos': [availability()]}),
               'slos[0].operating_hours.shifts')
    alert = {'name': 'a', 'severity': 'page', 'burn_rate': 2, 'short_s': 300}
    assert_key(config_error(tmp_path, {'slos': [mission(alerts=[alert])]}),
               'slos[0].alerts[0].long_s')


def test_missing_threshold_for_latency_kind(tmp_path: Path) -> None:
    error = config_error(tmp_path, {'slos': [mission(sli='ack_time', objective=0.5,
                                                     alerts=[])]})
    assert_key(error, 'slos[0].threshold_s')


@pytest.mark.parametrize('key, value', [
    ('objective', 'high'),
    ('period_s', True),
    ('period_s', float('nan')),
    ('name', 12),
    ('sli', ['mission_success']),
    ('step_s', '1m'),
    ('threshold_s', None),
    ('alerts', {'name': 'a'}),
    ('description', ['a']),
    ('operating_hours', ['06:00-14:00']),
])
def test_wrong_types(tmp_path: Path, key: str, value: Any) -> None:
    error = config_error(tmp_path, {'slos': [mission(**{key: value})]})
    assert_key(error, f'slos[0].{key}')
    assert 'must be' in str(error)


def test_wrong_types_of_containers(tmp_path: Path) -> None:
    assert_key(config_error(tmp_path, {'slos': {'a': 1}}), 'slos')
    assert_key(config_error(tmp_path, {'slos': [5]}), 'slos[0]')
    assert 'must be a mapping' in str(config_error(tmp_path, [1]))
    assert_key(config_error(tmp_path, {'slos': [availability(shifts='06:00-14:00')]}),
               'slos[0].operating_hours.shifts')
    assert_key(config_error(tmp_path, {'slos': [availability(shifts=[600])]}),
               'slos[0].operating_hours.shifts[0]')
    assert_key(config_error(tmp_path, {'slos': [mission(alerts=['page'])]}),
               'slos[0].alerts[0]')


@pytest.mark.parametrize('change, key', [
    ({'severity': 'sms'}, 'severity'),
    ({'burn_rate': 0}, 'burn_rate'),
    ({'burn_rate': 25}, 'burn_rate'),  # 0.95 -> at most 1 / 0.05 = 20: 25 is unreachable
    ({'long_s': 300, 'short_s': 3600}, 'short_s'),
    ({'long_s': '1h'}, 'long_s'),
    ({'name': ''}, 'name'),
    ({'window': 5}, 'window'),  # unknown key
])
def test_bad_alert_values(tmp_path: Path, change: dict[str, Any], key: str) -> None:
    alert = {'name': 'a', 'severity': 'page', 'burn_rate': 2, 'long_s': 3600, 'short_s': 300}
    alert.update(change)
    error = config_error(tmp_path, {'slos': [mission(alerts=[alert])]})
    assert_key(error, f'slos[0].alerts[0].{key}')


def test_duplicate_alert_name(tmp_path: Path) -> None:
    alert = {'name': 'a', 'severity': 'page', 'burn_rate': 2, 'long_s': 3600, 'short_s': 300}
    error = config_error(tmp_path, {'slos': [mission(alerts=[alert, alert])]})
    assert_key(error, 'slos[0].alerts[1].name')


def test_unreachable_default_policy(tmp_path: Path) -> None:
    # objective 0.5 -> the burn rate is at most 1 / 0.5 = 2 < 14.4 of page-1h
    error = config_error(tmp_path, {'slos': [mission(sli='ack_time', objective=0.5,
                                                     threshold_s=300)]})
    assert_key(error, 'slos[0].alerts')
    assert 'never' in str(error)


def test_keys_that_do_not_apply_to_the_kind(tmp_path: Path) -> None:
    assert_key(config_error(tmp_path, {'slos': [mission(threshold_s=300)]}),
               'slos[0].threshold_s')
    hours = {'shifts': ['06:00-14:00']}
    assert_key(config_error(tmp_path, {'slos': [mission(operating_hours=hours)]}),
               'slos[0].operating_hours')


def test_unknown_keys(tmp_path: Path) -> None:
    error = config_error(tmp_path, {'slos': [mission(objectve=0.9)]})
    assert_key(error, 'slos[0].objectve')
    assert 'unknown key' in str(error)
    assert_key(config_error(tmp_path, {'slo': []}), 'slo')
    assert_key(config_error(tmp_path, {'slos': [availability(shifts=['06:00-14:00'], tz=1)]}),
               'slos[0].operating_hours.tz')


def test_duplicate_slo_name(tmp_path: Path) -> None:
    error = config_error(tmp_path, {'slos': [mission(), mission()]})
    assert_key(error, 'slos[1].name')


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    # line 3 opens a flow sequence that is never closed; the parser fails on line 4
    error = config_error(tmp_path, 'slos:\n  - name: a\n    sli: [mission_success\n'
                         '    objective: 0.9\n')
    assert (error.key, error.line, error.column) == ('line 4, column 14', 4, 14)
    assert 'line 4, column 14: invalid YAML' in str(error)
    error = config_error(tmp_path, 'slos:\n  - name: a\n\tsli: x\n')  # a tab on line 3
    assert error.line == 3 and 'line 3, column 1: invalid YAML' in str(error)


def test_duplicate_yaml_key_names_line(tmp_path: Path) -> None:
    # MISSION takes lines 2-5; the second `objective` is on line 6
    error = config_error(tmp_path, 'slos:\n' + MISSION + '    objective: 0.9\n')
    assert error.line == 6 and 'line 6, column 5: invalid YAML' in str(error)
    assert "duplicate key 'objective'" in str(error)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / 'absent.yaml'
    with pytest.raises(ConfigError) as info:
        load_slos(path)
    assert info.value.file == str(path) and str(path) in str(info.value)
    assert 'cannot read' in str(info.value)
