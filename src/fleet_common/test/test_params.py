"""fleet_common.params on real rclpy nodes: descriptors, overrides, ranges, read-back."""

from __future__ import annotations

from dataclasses import dataclass
import enum
import pathlib
from typing import Iterator

import pytest
import rclpy
from rclpy.context import Context
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter
import yaml

from fleet_common.params import (
    declare_params,
    help_text,
    param,
    param_specs,
    params_yaml_section,
    read_params,
    replace_yaml_section,
)
from fleet_testing import RosGraph


class Fault(str, enum.Enum):
    """A fault to inject (as in the simulator)."""

    NONE = 'none'
    """Healthy."""
    STUCK = 'stuck'
    """No progress."""


@dataclass(frozen=True)
class DemoParams:
    """One field of every supported kind."""

    rate: float = param(1.0, 'Reports per second.', unit='Hz', bounds=(0.01, 100.0))
    buffer: int = param(1000, 'Events kept.', unit='events', bounds=(1, 5000))
    topic: str = param('status', 'Topic to publish on.')
    enabled: bool = param(True, 'Whether to publish at all.')
    fault: Fault = param(Fault.NONE, 'Injected fault.')
    areas: tuple[str, ...] = param((), 'Blocked rectangles.', unit='m',
                                   constraints="Each entry 'x_min,y_min,x_max,y_max'.")
    weights: tuple[float, ...] = param((0.5, 2.0), 'Weights per axis.')
    goals: int = param(0, 'Goals accepted so far.', unit='goals', bounds=(0, 2**31 - 1),
                       read_only=True)


@pytest.fixture
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)


def make_node(context: Context, name: str = 'demo', **overrides: object) -> Node:
    return Node(name, context=context, parameter_overrides=[
        Parameter(key, value=value) for key, value in overrides.items()])


def test_declare_reads_back_the_defaults_and_describes_each_parameter(context: Context) -> None:
    node = make_node(context)
    try:
        assert declare_params(node, DemoParams) == DemoParams()
        rate = node.describe_parameter('rate')
        assert rate.description == 'Reports per second. Unit: Hz.'
        assert rate.type == Parameter.Type.DOUBLE.value
        assert [(r.from_value, r.to_value, r.step) for r in rate.floating_point_range] == [
            (0.01, 100.0, 0.0)]
        buffer = node.describe_parameter('buffer')
        assert [(r.from_value, r.to_value, r.step) for r in buffer.integer_range] == [
            (1, 5000, 1)]
        assert node.describe_parameter('fault').additional_constraints == 'One of: none, stuck.'
        assert node.describe_parameter('areas').type == Parameter.Type.STRING_ARRAY.value
        assert node.get_parameter('areas').value == []
        assert node.describe_parameter('goals').read_only
        assert not node.describe_parameter('rate').read_only
    finally:
        node.destroy_node()


def test_overrides_and_instance_defaults_are_read_back_typed(context: Context) -> None:
    node = make_node(context, rate=5.0, fault='stuck', areas=['0,0,1,1'], **{'w.topic': 'x'})
    try:
        params = declare_params(node, DemoParams(topic='mine', buffer=10))
        assert (params.rate, params.fault, params.areas) == (5.0, Fault.STUCK, ('0,0,1,1',))
        assert (params.topic, params.buffer, params.weights) == ('mine', 10, (0.5, 2.0))
        assert isinstance(params.weights, tuple) and isinstance(params.weights[0], float)
        prefixed = declare_params(node, DemoParams, prefix='w.')
        assert prefixed.topic == 'x' and node.has_parameter('w.rate')
    finally:
        node.destroy_node()


def test_rclpy_enforces_ranges_read_only_and_enum_values(context: Context) -> None:
    node = make_node(context)
    try:
        declare_params(node, DemoParams)
        refused = {
            'rate': 500.0, 'buffer': 0, 'goals': 3, 'fault': 'exploded',
        }
        for name, value in refused.items():
            [result] = node.set_parameters([Parameter(name, value=value)])
            assert not result.successful, name
            assert result.reason, name
        assert 'read-only' in node.set_parameters([Parameter('goals', value=1)])[0].reason
        assert "'exploded' is not one of none, stuck" in node.set_parameters(
            [Parameter('fault', value='exploded')])[0].reason
        assert read_params(node, DemoParams) == DemoParams()  # nothing changed
        [ok] = node.set_parameters([Parameter('rate', value=100.0),
                                    Parameter('fault', value='stuck')])[:1]
        assert ok.successful
        assert read_params(node, DemoParams).rate == 100.0
        assert read_params(node, DemoParams).fault is Fault.STUCK
    finally:
        node.destroy_node()


def test_bad_overrides_fail_the_declaration(context: Context) -> None:
    for overrides, error in (({'rate': 0.0}, InvalidParameterValueException),
                             ({'buffer': 1.5}, InvalidParameterTypeException),
                             ({'fault': 'bogus'}, InvalidParameterValueException)):
        node = make_node(context, **overrides)
        try:
            with pytest.raises(error):
                declare_params(node, DemoParams)
        finally:
            node.destroy_node()


def test_ranges_hold_over_the_parameter_service() -> None:
    graph = RosGraph()
    try:
        node = graph.add(Node('ranged', context=graph.context))
        declare_params(node, DemoParams)
        graph.set_parameters('/ranged', rate=42.0)
        assert graph.get_parameter('/ranged', 'rate') == 42.0
        with pytest.raises(AssertionError, match='rate'):
            graph.set_parameters('/ranged', rate=1000.0)  # outside 0.01..100: refused
        assert read_params(node, DemoParams).rate == 42.0
    finally:
        graph.close()


def test_schema_mistakes_are_caught_before_rclpy() -> None:
    @dataclass(frozen=True)
    class NoDescription:
        rate: float = 1.0

    @dataclass(frozen=True)
    class OutOfBounds:
        rate: float = param(200.0, 'Rate.', bounds=(0.0, 100.0))

    @dataclass(frozen=True)
    class WrongType:
        count: int = param(True, 'A count.')

    with pytest.raises(TypeError, match='rate has no parameter description'):
        param_specs(NoDescription)
    with pytest.raises(ValueError, match='outside'):
        param_specs(OutOfBounds)
    with pytest.raises(TypeError, match='not of type integer'):
        param_specs(WrongType)
    with pytest.raises(TypeError, match='tuple'):
        param([], 'A list.')


def test_yaml_section_and_help_come_from_the_same_fields() -> None:
    section = params_yaml_section('demo', DemoParams, source='test:DemoParams')
    assert yaml.safe_load(section) == {'demo': {'ros__parameters': {
        'rate': 1.0, 'buffer': 1000, 'topic': 'status', 'enabled': True, 'fault': 'none',
        'areas': [], 'weights': [0.5, 2.0], 'goals': 0}}}
    assert '    # Reports per second. [Hz; 0.01..100]\n    rate: 1.0\n' in section
    assert '# Goals accepted so far. [goals; 0..2147483647; read-only]' in section
    assert all(len(line) <= 99 for line in section.splitlines())
    text = '# header\na:\n  ros__parameters:\n    x: 1\n\ndemo:\n  old: 1\n\nb: {}\n'
    replaced = replace_yaml_section(text, 'demo', section)
    assert replaced == '# header\na:\n  ros__parameters:\n    x: 1\n\n' + section + '\nb: {}\n'
    assert replace_yaml_section(replaced, 'demo', section) == replaced
    assert replace_yaml_section('a: 1\n', 'demo', section) == 'a: 1\n\n' + section
    assert 'rate (double, default 1.0) [Hz; 0.01..100]\n      Reports per second.' in \
        help_text(DemoParams)


def test_generated_section_loads_into_rclpy_prefixes_included(context: Context,
                                                              tmp_path: pathlib.Path) -> None:
    section = params_yaml_section('demo', DemoParams, ('w.', DemoParams))
    assert '    w:\n      # Reports per second. [Hz; 0.01..100]\n      rate: 1.0\n' in section
    path = tmp_path / 'params.yaml'
    path.write_text(section.replace('      rate: 1.0', '      rate: 7.5'), encoding='utf-8')
    node = Node('demo', context=context, cli_args=['--ros-args', '--params-file', str(path)])
    try:
        assert declare_params(node, DemoParams) == DemoParams()
        assert declare_params(node, DemoParams, prefix='w.') == DemoParams(rate=7.5)
    finally:
        node.destroy_node()
