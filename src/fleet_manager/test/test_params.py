"""The manager's parameters are described once (ManagerParams) and params.yaml follows them."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Iterator

import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
import yaml

from fleet_common.params import params_yaml_section, replace_yaml_section
from fleet_manager import params as manager_params
from fleet_manager.params import ManagerParams

PARAMS_YAML = (pathlib.Path(__file__).resolve().parents[2] / 'fleet_bringup' / 'config'
               / 'params.yaml')
SOURCE = 'fleet_manager.params:ManagerParams'
REGENERATE = ('python -m fleet_common.params src/fleet_bringup/config/params.yaml '
              f'fleet_manager={SOURCE}')


@pytest.fixture
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def test_params_yaml_section_is_generated_from_the_dataclass() -> None:
    text = PARAMS_YAML.read_text(encoding='utf-8')
    expected = replace_yaml_section(text, 'fleet_manager',
                                    params_yaml_section('fleet_manager', ManagerParams,
                                                        source=SOURCE))
    assert text == expected, f'{PARAMS_YAML} is out of date: run {REGENERATE}'


def test_params_yaml_lists_exactly_the_parameters_with_their_defaults() -> None:
    section = yaml.safe_load(PARAMS_YAML.read_text(encoding='utf-8'))['fleet_manager']
    listed = section['ros__parameters']
    assert listed == {f.name: f.default for f in dataclasses.fields(ManagerParams)}
    # ROS parameters are statically typed: a float default must be written as a float.
    for f in dataclasses.fields(ManagerParams):
        assert type(listed[f.name]) is type(f.default), f.name


def test_manager_declares_and_reads_its_parameters_from_the_shipped_file(
        context: Context) -> None:
    node = Node('fleet_manager', context=context,
                cli_args=['--ros-args', '--params-file', str(PARAMS_YAML)])
    try:
        manager_params.declare(node)
        assert manager_params.read(node) == ManagerParams()
        descriptor = node.describe_parameter('battery_floor')
        assert descriptor.description.startswith('State of charge below which')
        assert [(r.from_value, r.to_value) for r in descriptor.floating_point_range] == [
            (0.0, 1.0)]
        assert [(r.from_value, r.to_value) for r in
                node.describe_parameter('max_attempts').integer_range] == [(1, 100)]
        assert all(node.describe_parameter(f.name).description
                   for f in dataclasses.fields(ManagerParams))
    finally:
        node.destroy_node()


def test_manager_parameter_overrides_are_range_checked(context: Context) -> None:
    node = Node('fleet_manager', context=context,
                cli_args=['--ros-args', '-p', 'battery_floor:=0.5', '-p', 'max_attempts:=7'])
    try:
        manager_params.declare(node)
        params = manager_params.read(node)
        assert (params.battery_floor, params.max_attempts) == (0.5, 7)
        [result] = node.set_parameters([rclpy.parameter.Parameter('battery_floor', value=1.5)])
        assert not result.successful
    finally:
        node.destroy_node()


@pytest.mark.parametrize('override,name', [('report_period:=-1.0', 'report_period'),
                                           ('max_attempts:=many', 'max_attempts')])
def test_the_manager_refuses_a_bad_parameter_with_one_line(tmp_path: pathlib.Path,
                                                            override: str, name: str) -> None:
    import subprocess
    import sys
    done = subprocess.run([sys.executable, '-m', 'fleet_manager.manager_node', '--ros-args',
                           '-p', f'database:={tmp_path / "fleet.db"}', '-p', override],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert name in done.stderr and 'Traceback' not in done.stderr, done.stderr
