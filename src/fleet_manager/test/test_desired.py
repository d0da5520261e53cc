"""The desired state: loading, refusing bad files by file and key, diffing, drift."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from fleet_common.config import ConfigError
from fleet_common.param_digest import node_digest
from fleet_manager.core.desired import ReconcilePolicy, load_desired
from fleet_manager.core.desired_diff import diff_desired
from fleet_manager.core.drift import DriftBook, DriftState, Expected, Report, robot_labels
from fleet_manager.core.rollout_gates import Metric

SHIPPED = pathlib.Path(__file__).resolve().parents[2] / 'fleet_bringup' / 'config' / 'desired'

GROUPS = textwrap.dedent('''\
    robots:
      r1: {site: phoenix, model: amr-200}
      r2: {site: chicago}
    groups:
      - {name: phoenix, selector: {site: phoenix}, reconcile: reconcile}
      - {name: chicago, selector: {site: chicago}}
      - {name: lifters, selector: {capability: [lift]}}
    ''')
PARAMS = textwrap.dedent('''\
    parameter_sets:
      - name: nav2-base
        groups: [phoenix, chicago]
        nodes:
          controller_server:
            FollowPath: {max_vel_x: 0.5, min_vel_x: 0}
          local_costmap/local_costmap: {inflation_layer.inflation_radius: 0.55}
      - name: nav2-phoenix
        groups: [phoenix]
        priority: 10
        nodes:
          controller_server: {FollowPath.max_vel_x: 0.3}
    ''')
ROLLOUTS = textwrap.dedent('''\
    releases:
      - {version: 1.0.0, artifact: 'reg/robot:1.0.0'}
      - {version: 1.1.0, artifact: 'reg/robot:1.1.0'}
    analysis:
      - name: default
        min_missions: 4
        metrics:
          mission_success: {min: 0.8, max_degradation: 0.1}
          recoveries_per_hour: {max_degradation: 2}
    strategies:
      - name: standard
        analysis: default
        steps:
          - {name: canary, robots: 1, bake: {missions: 4}}
          - {percent: 50, bake: {missions: 4, time_s: 60}}
          - {percent: 100}
    rollout_policy: {default_strategy: standard}
    ''')


def files(**overrides: str) -> dict[str, str]:
    base = {'groups.yaml': GROUPS, 'parameters.yaml': PARAMS, 'rollouts.yaml': ROLLOUTS}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_loads_every_kind_and_resolves_a_robot() -> None:
    d = load_desired(files())
    assert set(d.groups) == {'phoenix', 'chicago', 'lifters'}
    assert d.releases['1.1.0'].artifact == 'reg/robot:1.1.0'
    assert d.strategies['standard'].steps[1].percent == 50
    assert d.analysis['default'].checks[0].metric is Metric.MISSION_SUCCESS
    labels = robot_labels('r1', 'floor', ['tote'], 'demo', d.labels)
    assert labels['site'] == ('phoenix',) and labels['model'] == ('amr-200',)
    # The phoenix set has the higher priority; nested mappings became dotted names.
    assert d.params_for(labels) == {
        'controller_server': {'FollowPath.max_vel_x': 0.3, 'FollowPath.min_vel_x': 0},
        'local_costmap/local_costmap': {'inflation_layer.inflation_radius': 0.55}}
    assert d.policy_for(labels) == ReconcilePolicy.RECONCILE
    chicago = robot_labels('r2', 'floor', ['tote'], 'demo', d.labels)
    assert d.params_for(chicago)['controller_server']['FollowPath.max_vel_x'] == 0.5
    assert d.policy_for(chicago) == ReconcilePolicy.REPORT
    # A robot in a reconcile group and a report group is only reported (report wins).
    both = robot_labels('r1', 'floor', ['lift'], 'demo', d.labels)
    both_groups = {g.name for g in d.groups_of(both)}
    assert both_groups == {'phoenix', 'lifters'}
    assert d.policy_for(both) == ReconcilePolicy.REPORT


def test_the_shipped_sample_directory_loads() -> None:
    shipped = {p.name: p.read_text() for p in sorted(SHIPPED.glob('*.yaml'))}
    assert shipped, SHIPPED
    d = load_desired(shipped)
    assert d.releases and d.groups and d.parameter_sets and d.strategies
    assert d.policy.default_strategy in d.strategies


@pytest.mark.parametrize('file, text, key, words', [
    ('groups.yaml', 'groups:\n  - {name: a, reconcile: always}\n', 'groups[0].reconcile',
     'report or reconcile'),
    ('groups.yaml', 'groups:\n  - {name: a, selectr: {site: x}}\n', 'groups[0].selectr',
     'unknown key'),
    ('parameters.yaml', PARAMS.replace('[phoenix, chicago]', '[phoenix, nowhere]'),
     'parameter_sets[0].groups[1]', "unknown group 'nowhere'"),
    ('parameters.yaml', PARAMS.replace('0.55', '{}'),
     'parameter_sets[0].nodes.local_costmap/local_costmap', 'declares no parameter'),
    ('parameters.yaml', PARAMS.replace('min_vel_x: 0', 'min_vel_x: [1, a]'),
     'parameter_sets[0].nodes.controller_server.FollowPath.min_vel_x', 'all of one kind'),
    ('rollouts.yaml', ROLLOUTS.replace('version: 1.1.0,', 'version: 1.1,'),
     'releases[1].version', 'quote it'),
    ('rollouts.yaml', ROLLOUTS.replace('{percent: 100}', '{percent: 90}'),
     'strategies[0].steps[2]', 'the last step must be percent: 100'),
    ('rollouts.yaml', ROLLOUTS.replace('recoveries_per_hour', 'recoveries'),
     'analysis[0].metrics.recoveries', 'unknown metric'),
    ('rollouts.yaml', ROLLOUTS.replace('analysis: default', 'analysis: strict'),
     'strategies[0].analysis', "unknown analysis 'strict'"),
    ('rollouts.yaml', ROLLOUTS.replace('robots: 1,', 'robots: 1, percent: 5,'),
     'strategies[0].steps[0]', 'exactly one of robots'),
    ('site/zz.yaml', 'groups:\n  - {name: phoenix}\n', 'groups[0].name',
     "group 'phoenix' is declared twice (also at groups.yaml: groups[0].name)"),
    ('extra.yaml', 'gropus: []\n', 'gropus', 'unknown key'),
    ('workflows.yaml', 'version: 1\nrules:\n  - {name: x, trigger: {type: nope}}\n',
     'rules[0].trigger.type', 'nope'),
])
def test_invalid_files_are_refused_naming_file_and_key(file: str, text: str, key: str,
                                                       words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_desired(files(**{file: text}))
    assert info.value.file == file, str(info.value)
    assert info.value.key == key, str(info.value)
    assert words in str(info.value)


def test_yaml_syntax_and_names_are_refused_with_the_position() -> None:
    with pytest.raises(ConfigError) as info:
        load_desired(files(**{'groups.yaml': 'groups: [\n'}))
    assert info.value.file == 'groups.yaml' and info.value.line is not None
    for bad in ('../escape.yaml', '/abs.yaml', 'notes.txt', ''):
        with pytest.raises(ConfigError):
            load_desired({bad: 'groups: []\n'})
    with pytest.raises(ConfigError, match='no files'):
        load_desired({})


def test_diff_lists_objects_and_fields() -> None:
    before = load_desired(files())
    after = load_desired(files(**{
        'parameters.yaml': PARAMS.replace('max_vel_x: 0.3', 'max_vel_x: 0.35'),
        'groups.yaml': GROUPS.replace("  - {name: lifters, selector: {capability: [lift]}}\n",
                                      ''),
        'extra.yaml': 'releases:\n  - {version: 1.2.0, artifact: x}\n'}))
    d = diff_desired(before, after)
    lines = d.lines()
    assert '- group lifters' in lines
    assert '+ release 1.2.0' in lines
    assert ("~ parameter_set nav2-phoenix: nodes.controller_server.FollowPath.max_vel_x: "
            "0.3 -> 0.35") in lines
    assert d.files_added == ('extra.yaml',) and 'parameters.yaml' in d.files_changed
    assert diff_desired(before, load_desired(files())).empty
    assert len(diff_desired(None, before).changes) == len(
        [c for c in diff_desired(None, before).changes if c.op == '+'])


def expected_for(d_files: dict[str, str], robot: str = 'r1') -> Expected:
    d = load_desired(d_files)
    return Expected.of(d, 3, robot_labels(robot, 'floor', ['tote'], 'demo', d.labels))


def report_of(e: Expected, **changes: float) -> Report:
    nodes = {}
    for node, declared in e.params.items():
        values = dict(declared)
        for name, value in changes.items():
            if name in values:
                values[name] = value
        nodes[node] = {'digest': node_digest(values), 'values': values}
    return Report.from_data({'config_digest': e.digest, 'nodes': nodes}, 10.0)


def test_drift_is_found_per_parameter_and_cleared() -> None:
    book = DriftBook()
    e = expected_for(files())
    assert book.expect('r1', e)
    assert not book.expect('r1', e)  # the same configuration: nothing to send
    assert book.config_due('r1', now=0.0, resend_after=5.0)
    # Integers equal the doubles a node holds: FollowPath.min_vel_x 0 == 0.0.
    change = book.on_report('r1', report_of(e, **{'FollowPath.min_vel_x': 0.0}))
    assert change is not None and change.state == DriftState.IN_SYNC
    assert not book.config_due('r1', now=0.0, resend_after=5.0)
    change = book.on_report('r1', report_of(e, **{'FollowPath.max_vel_x': 0.9}))
    assert change is not None and change.state == DriftState.DRIFTED
    assert [(d.node, d.name, d.declared, d.actual) for d in change.drifted] == [
        ('controller_server', 'FollowPath.max_vel_x', 0.3, 0.9)]
    assert change.policy == ReconcilePolicy.RECONCILE and change.revision == 3
    assert book.reconcile_due('r1', now=20.0, retry_after=10.0)
    # The same report again changes nothing; back to the declared value clears it.
    assert book.on_report('r1', report_of(e, **{'FollowPath.max_vel_x': 0.9})) is None
    cleared = book.on_report('r1', report_of(e))
    assert cleared is not None and cleared.state == DriftState.IN_SYNC
    assert not book.reconcile_due('r1', now=20.0, retry_after=10.0)


def test_reports_about_another_configuration_say_nothing_and_unreachable_nodes_drift() -> None:
    book = DriftBook()
    e = expected_for(files())
    book.expect('r1', e)
    stale = Report.from_data({'config_digest': 'old', 'nodes': {}}, 1.0)
    assert book.on_report('r1', stale) is None
    assert book.config_due('r1', now=1.0, resend_after=5.0)
    book.get('r1').sent_digest, book.get('r1').sent_at = e.digest, 1.0
    assert not book.config_due('r1', now=2.0, resend_after=5.0)
    assert book.config_due('r1', now=7.0, resend_after=5.0)
    down = Report.from_data({'config_digest': e.digest, 'nodes': {
        'controller_server': {'reachable': False, 'digest': '', 'values': {}}}}, 2.0)
    change = book.on_report('r1', down)
    assert change is not None and change.state == DriftState.DRIFTED
    assert set(change.unreachable) == {'controller_server', 'local_costmap/local_costmap'}


def test_software_drift_against_the_installed_version() -> None:
    book = DriftBook()
    e = expected_for(files())
    book.expect('r1', e)
    book.on_report('r1', report_of(e))
    assert book.on_version('r1', '1.1.0', installed='1.1.0') is None  # in sync already
    change = book.on_version('r1', '1.0.9')
    assert change is not None and change.state == DriftState.DRIFTED
    assert (change.reported_version, change.installed_version) == ('1.0.9', '1.1.0')
