import pathlib

import pytest

from fleet_manager.core.config import load_fleet_config
from fleet_manager.core.errors import ConfigError
from fleet_manager.core.rules import load_workflows
from fleet_manager.core.runbooks import load_runbook
from fleet_manager.core.slo_config import load_slos

REPO = pathlib.Path(__file__).resolve().parents[3]


def write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    p = tmp_path / 'fleet.yaml'
    p.write_text(text)
    return p


def test_shipped_fleet_config_loads() -> None:
    fleet = load_fleet_config(REPO / 'src' / 'fleet_bringup' / 'config' / 'fleet.yaml')
    assert sorted(fleet.robots) == ['robot1', 'robot2', 'robot3', 'robot4', 'robot5']
    assert fleet.area_at(6.0, 10.0) == 'aisle_a'
    assert fleet.spec_for('robot4').capabilities == ('tote', 'lift')
    # An unlisted robot gets the defaults and a dock by its number.
    assert fleet.spec_for('robot7').dock == 'dock_2'


@pytest.mark.parametrize('text,key', [
    ('robots: [{id: r1, dock: nowhere}]\nmap: {docks: {d1: {x: 0, y: 0}}}', 'robots[0].dock'),
    ('robots: [{id: r1}, {id: r1}]', 'robots[1].id'),
    ('robots: [{capabilities: [a]}]', 'robots[0].id'),
    ('robots: {r1: {}}', 'robots'),
    ('map: {areas: [{name: a, x_min: 1, x_max: 0, y_min: 0, y_max: 1}]}', 'map.areas[0].x_max'),
    ('map: {areas: [{name: a, x_min: 0, x_max: one, y_min: 0, y_max: 1}]}',
     'map.areas[0].x_max'),
    ('map: {docks: {d1: {x: 0}}}', 'map.docks.d1.y'),
    ('robots: [{id: r1, colour: red}]', 'robots[0].colour'),
    ('sites: x', 'sites'),
    ('robots: [{id: 1abc}]', 'robots[0].id'),
])
def test_invalid_config_names_file_and_key(tmp_path: pathlib.Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_fleet_config(path)
    assert info.value.key == key
    assert str(path) in str(info.value) and key in str(info.value)


def test_yaml_syntax_error_names_line(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, 'site: a\nrobots: [\n  {id: r1\n')
    with pytest.raises(ConfigError) as info:
        load_fleet_config(path)
    assert str(path) in str(info.value)
    assert 'line' in info.value.key


def test_missing_and_empty_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match='file not found'):
        load_fleet_config(tmp_path / 'nope.yaml')
    with pytest.raises(ConfigError, match='empty'):
        load_fleet_config(write(tmp_path, ''))


LOADERS = {
    'fleet.yaml': load_fleet_config,
    'workflows.yaml': load_workflows,
    'slos.yaml': load_slos,
    'robot_stuck.yaml': load_runbook,
}


@pytest.mark.parametrize('name', sorted(LOADERS))
@pytest.mark.parametrize('data, where, words', [
    (b'site: a\nrobots: [{id: r\xe9}]\n', 'line 2, column 16', 'cannot read: not valid UTF-8'),
    (b'site: a\nrobots: [{id: r1}\n', 'line 3, column 1', 'invalid YAML: expected'),
    (b'site: a\nsite: b\n', 'line 2, column 1', "invalid YAML: found duplicate key 'site'"),
])
def test_every_loader_names_the_file_and_where_it_cannot_be_read(
        tmp_path: pathlib.Path, name: str, data: bytes, where: str, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        LOADERS[name](path)
    assert (info.value.file, info.value.key) == (str(path), where)
    assert str(info.value).startswith(f'{path}: {where}: {words}')
