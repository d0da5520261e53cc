"""The agent's parameters are described once (AgentParams, Nav2WatchConfig) and the shipped
params.yaml follows them; a namespaced agent picks its section up through ``/**``."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Iterator

import pytest
import rclpy
from rclpy.context import Context
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
import yaml

from fleet_agent.nav2_watch import Nav2WatchConfig, declare_watch_parameters
from fleet_agent.params import AgentParams, OutboxSync
from fleet_common.params import declare_params, params_yaml_section, replace_yaml_section

PARAMS_YAML = (pathlib.Path(__file__).resolve().parents[2] / 'fleet_bringup' / 'config'
               / 'params.yaml')
SECTION = '/**/fleet_agent'
SOURCE = 'fleet_agent.params:AgentParams'
WATCH_SOURCE = 'fleet_agent.nav2_watch:Nav2WatchConfig'
REGENERATE = ('python -m fleet_common.params src/fleet_bringup/config/params.yaml '
              f"fleet_manager=fleet_manager.params:ManagerParams '{SECTION}={SOURCE}' "
              f"'{SECTION}:nav2_watch.={WATCH_SOURCE}'")


@pytest.fixture
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def test_params_yaml_section_is_generated_from_the_dataclasses() -> None:
    text = PARAMS_YAML.read_text(encoding='utf-8')
    expected = replace_yaml_section(text, SECTION, params_yaml_section(
        SECTION, AgentParams, ('nav2_watch.', Nav2WatchConfig),
        source=f'{SOURCE}, {WATCH_SOURCE}'))
    assert text == expected, f'{PARAMS_YAML} is out of date: run {REGENERATE}'


def test_params_yaml_lists_exactly_the_parameters_with_their_defaults() -> None:
    listed = yaml.safe_load(PARAMS_YAML.read_text(encoding='utf-8'))[SECTION][
        'ros__parameters']
    watch = listed.pop('nav2_watch')
    assert listed == {f.name: getattr(f.default, 'value', f.default)
                      for f in dataclasses.fields(AgentParams)}
    assert {k: tuple(v) if isinstance(v, list) else v for k, v in watch.items()} == \
        dataclasses.asdict(Nav2WatchConfig())


def test_a_namespaced_agent_reads_the_shipped_file(context: Context) -> None:
    node = Node('fleet_agent', namespace='/robot7', context=context,
                cli_args=['--ros-args', '--params-file', str(PARAMS_YAML),
                          '-p', 'outbox_sync:=normal', '-p', 'nav2_watch.goal_memory:=9'])
    try:
        params = declare_params(node, AgentParams)
        assert params == AgentParams(outbox_sync=OutboxSync.NORMAL)
        assert declare_watch_parameters(node) == Nav2WatchConfig(goal_memory=9)
        assert node.describe_parameter('report_rate').description.startswith(
            'Status reports per second.')
    finally:
        node.destroy_node()


def test_bad_overrides_are_refused_naming_the_parameter(context: Context) -> None:
    node = Node('fleet_agent', namespace='/robot7', context=context,
                cli_args=['--ros-args', '-p', 'report_rate:=500.0'])
    try:
        with pytest.raises(InvalidParameterValueException, match='report_rate'):
            declare_params(node, AgentParams)
    finally:
        node.destroy_node()
    node = Node('fleet_agent', namespace='/robot8', context=context,
                cli_args=['--ros-args', '-p', 'outbox_sync:=sometimes'])
    try:
        with pytest.raises(Exception, match='outbox_sync'):
            declare_params(node, AgentParams)
    finally:
        node.destroy_node()


@pytest.mark.parametrize('override,name', [('report_rate:=500.0', 'report_rate'),
                                           ('outbox_sync:=sometimes', 'outbox_sync'),
                                           ('send_window:=many', 'send_window')])
def test_the_agent_refuses_a_bad_parameter_with_one_line(tmp_path: pathlib.Path,
                                                          override: str, name: str) -> None:
    import subprocess
    import sys
    done = subprocess.run([sys.executable, '-m', 'fleet_agent.agent_node', '--ros-args',
                           '-r', '__ns:=/robot9', '-p', f'state_dir:={tmp_path}',
                           '-p', override], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert name in done.stderr and 'Traceback' not in done.stderr, done.stderr
