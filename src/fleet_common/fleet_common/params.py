"""Declare a node's ROS parameters once, from a frozen dataclass, and read them back.

Each field of the dataclass says everything about its parameter in one place, through
:func:`param`: default, description, unit, range, read-only, extra constraints. From that one
definition this module builds the ``ParameterDescriptor`` of every parameter, declares them on
a node, reads them back into the dataclass, and writes the node's section of a ROS parameter
file and its ``--help`` text, so nothing is described twice::

    from dataclasses import dataclass

    from fleet_common.params import declare_params, param, read_params

    @dataclass(frozen=True)
    class AgentParams:
        \"\"\"The agent's parameters.\"\"\"

        robot_id: str = param('', 'Robot id reported to the fleet; empty uses the namespace.')
        report_rate: float = param(1.0, 'Status reports per second.', unit='Hz',
                                   bounds=(0.01, 100.0))
        send_window: int = param(100, 'Unacknowledged events in flight at most.',
                                 unit='events', bounds=(1, 100_000))
        fault: Fault = param(Fault.NONE, 'Injected fault.')            # a str-valued Enum
        blocked_areas: tuple[str, ...] = param(
            (), 'Rectangles the robot cannot enter.', unit='m',
            constraints="Each entry 'x_min,y_min,x_max,y_max'.")
        goals_received: int = param(0, 'Goals accepted so far (kept by the node).',
                                    unit='goals', bounds=(0, 2**31 - 1), read_only=True)

    params = declare_params(node, AgentParams)                  # declare, then read back
    params = declare_params(node, AgentParams(robot_id='r1'))   # defaults known at run time
    watch = declare_params(node, Nav2WatchConfig, prefix='nav2_watch.')
    params = read_params(node, AgentParams)                     # again, e.g. after a change

Contract:

* Field types: ``bool``, ``int``, ``float``, ``str``, a ``str``-valued ``Enum`` (declared as
  its value; ``additional_constraints`` lists the values and a set to anything else is
  refused), and ``tuple[T, ...]`` of ``bool``/``int``/``float``/``str`` (an array
  parameter; an empty default works). Every field must come from :func:`param`
  (``TypeError`` otherwise), and a default outside its ``bounds`` is a ``ValueError``.
* Descriptors: ``description`` is the text plus ``Unit: <unit>.``; ``bounds=(low, high)``
  becomes ``floating_point_range`` (step 0) for a float or ``integer_range`` (step 1) for an
  int, both inclusive; ``read_only=True`` sets ``read_only``. rclpy enforces all of them: an
  override outside the range makes :func:`declare_params` raise rclpy's
  ``InvalidParameterValueException``, and a later ``set_parameters`` (local or through the
  node's parameter services, e.g. ``ros2 param set``) is refused with rclpy's reason.
* Parameters are statically typed: an override of another type (``1`` for a float) raises
  rclpy's ``InvalidParameterTypeException``; parameter files must write floats as ``1.0``
  (:func:`params_yaml_section` does).
* :func:`read_params` returns a new instance; arrays come back as tuples, enums as members.
* :func:`params_yaml_section` renders ``<node>: ros__parameters:`` with every parameter at
  its default and its description, unit and range in a comment;
  :func:`replace_yaml_section` puts it into a file's text, leaving the other nodes alone.
  ``python -m fleet_common.params FILE NODE=package.module:Class ...`` rewrites those
  sections of FILE (``--check`` only reports a stale file, exit status 1); an entry
  ``NODE:nav2_watch.=package.module:Class`` adds a prefixed dataclass to NODE's section.
* :func:`help_text` lists the parameters for a node's ``--help``.
"""

from __future__ import annotations

import argparse
import array
import builtins
import dataclasses
import enum
import importlib
import pathlib
import sys
import textwrap
import typing
from typing import Any, Sequence, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
import yaml

__all__ = ['ParamSpec', 'declare_params', 'help_text', 'param', 'param_specs',
           'params_yaml_section', 'read_params', 'replace_yaml_section']

T = TypeVar('T')
_META = 'fleet_common.params'

_SCALARS: dict[type, Parameter.Type] = {
    bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
    str: Parameter.Type.STRING,
}
_ARRAYS: dict[type, Parameter.Type] = {
    bool: Parameter.Type.BOOL_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
    float: Parameter.Type.DOUBLE_ARRAY, str: Parameter.Type.STRING_ARRAY,
}


@dataclasses.dataclass(frozen=True)
class _Meta:
    description: str
    unit: str
    bounds: tuple[float, float] | None
    read_only: bool
    constraints: str


def param(default: Any, description: str, *, unit: str = '',
          bounds: tuple[float, float] | None = None, read_only: bool = False,
          constraints: str = '') -> Any:
    """Return a dataclass field whose metadata describes its ROS parameter.

    ``description`` is one or two sentences; ``unit`` the unit of the value (``s``, ``Hz``,
    ``m``); ``bounds`` the inclusive ``(low, high)`` range of a number; ``read_only`` refuses
    every change after the declaration; ``constraints`` says what else a value must satisfy
    (shown by ``ros2 param describe``).
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError('use a tuple for a sequence default (the dataclass is frozen)')
    meta = _Meta(description.strip(), unit, None if bounds is None else
                 (bounds[0], bounds[1]), read_only, constraints)
    return dataclasses.field(default=default, metadata={_META: meta})


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """Everything about one parameter, as declared by its field's :func:`param`."""

    name: str
    type: Parameter.Type
    default: Any
    description: str
    unit: str = ''
    bounds: tuple[float, float] | None = None
    read_only: bool = False
    constraints: str = ''
    choices: builtins.type[enum.Enum] | None = None
    """The enum of an enum-typed field (declared as a string parameter)."""
    item: builtins.type | None = None
    """The item type of an array field."""

    def to_ros(self, value: Any) -> Any:
        """Return ``value`` as rclpy takes it (enum value, list for arrays, float)."""
        if self.choices is not None:
            return self.choices(value).value
        if self.item is not None:
            return [float(v) if self.item is float else v for v in value]
        if self.type == Parameter.Type.DOUBLE:
            return float(value)
        return value

    def from_ros(self, value: Any) -> Any:
        """Return a value read from rclpy as the field holds it."""
        if self.choices is not None:
            return self.choices(value)
        if self.item is not None:
            return tuple(self.item(v) for v in (value.tolist() if isinstance(value, array.array)
                                                else value))
        return value

    def descriptor(self, name: str) -> ParameterDescriptor:
        """Return the ParameterDescriptor declared for this parameter (named ``name``)."""
        text = f'{self.description} Unit: {self.unit}.' if self.unit else self.description
        constraints = self.constraints
        if self.choices is not None:
            one_of = f'One of: {", ".join(str(m.value) for m in self.choices)}.'
            constraints = f'{constraints} {one_of}'.strip()
        desc = ParameterDescriptor(name=name, type=self.type.value, description=text,
                                   additional_constraints=constraints,
                                   read_only=self.read_only)
        if self.bounds is not None and self.type == Parameter.Type.DOUBLE:
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(self.bounds[0]), to_value=float(self.bounds[1]), step=0.0)]
        elif self.bounds is not None:
            desc.integer_range = [IntegerRange(
                from_value=int(self.bounds[0]), to_value=int(self.bounds[1]), step=1)]
        return desc

    def check(self, value: Any) -> str:
        """Return why ``value`` (as rclpy holds it) is not allowed beyond what the descriptor
        checks, or '' when it is (today: the enum's values)."""
        if self.choices is not None and value not in {m.value for m in self.choices}:
            return (f'{self.name}: {value!r} is not one of '
                    f'{", ".join(str(m.value) for m in self.choices)}')
        return ''


def _ros_type(name: str,
              hint: Any) -> tuple[Parameter.Type, type[enum.Enum] | None, type | None]:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if not all(isinstance(m.value, str) for m in hint):
            raise TypeError(f'parameter {name}: enum {hint.__name__} must have str values')
        return Parameter.Type.STRING, hint, None
    if hint in _SCALARS:
        return _SCALARS[hint], None, None
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis \
            and args[0] in _ARRAYS:
        return _ARRAYS[args[0]], None, args[0]
    raise TypeError(f'parameter {name}: unsupported type {hint!r} (bool, int, float, str, '
                    'a str Enum, or tuple[bool|int|float|str, ...])')


def _spec(field: dataclasses.Field[Any], hint: Any, default: Any) -> ParamSpec:
    meta = field.metadata.get(_META)
    if not isinstance(meta, _Meta):
        raise TypeError(f'field {field.name} has no parameter description: declare it with '
                        'fleet_common.params.param(default, description, ...)')
    kind, choices, item = _ros_type(field.name, hint)
    spec = ParamSpec(field.name, kind, default, meta.description, meta.unit, meta.bounds,
                     meta.read_only, meta.constraints, choices, item)
    if meta.bounds is not None:
        if kind not in (Parameter.Type.DOUBLE, Parameter.Type.INTEGER):
            raise TypeError(f'parameter {field.name}: bounds need an int or float field')
        low, high = meta.bounds
        if isinstance(default, bool) or not low <= default <= high:
            raise ValueError(f'parameter {field.name}: default {default!r} is outside '
                             f'[{low}, {high}]')
    value = spec.to_ros(default)
    if not kind.check(value) or isinstance(value, bool) != (kind == Parameter.Type.BOOL) \
            or (item is not None and any(isinstance(v, bool) != (item is bool) for v in value)):
        raise TypeError(f'parameter {field.name}: default {default!r} is not of type '
                        f'{kind.name.lower()}')
    return spec


def param_specs(schema: type[Any] | Any) -> tuple[ParamSpec, ...]:
    """Return the specs of a parameter dataclass (class or instance), in field order.

    With an instance, its values are the defaults. TypeError/ValueError for a field that is
    not a valid parameter.
    """
    cls = schema if isinstance(schema, type) else type(schema)
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f'{cls.__name__} is not a dataclass')
    hints = typing.get_type_hints(cls)
    specs = []
    for field in dataclasses.fields(cls):
        default = getattr(schema, field.name) if not isinstance(schema, type) else field.default
        specs.append(_spec(field, hints[field.name], default))
    return tuple(specs)


@typing.overload
def declare_params(node: Node, schema: type[T], prefix: str = '') -> T: ...


@typing.overload
def declare_params(node: Node, schema: T, prefix: str = '') -> T: ...


def declare_params(node: Node, schema: Any, prefix: str = '') -> Any:
    """Declare every parameter of ``schema`` on ``node`` (named ``prefix + field``) with its
    descriptor, and return the values read back (overrides applied).

    ``schema`` is the dataclass, or an instance of it whose values are the defaults. Enum
    fields get an on-set check that refuses values outside the enum. Raises rclpy's
    exceptions for an override of the wrong type or outside a range, and
    ``ParameterAlreadyDeclaredException`` when declared twice.
    """
    specs = param_specs(schema)
    checked = {prefix + s.name: s for s in specs if s.choices is not None}
    if checked:
        def check(params: list[Parameter]) -> SetParametersResult:
            for p in params:
                reason = checked[p.name].check(p.value) if p.name in checked else ''
                if reason:
                    return SetParametersResult(successful=False, reason=reason)
            return SetParametersResult(successful=True)
        node.add_on_set_parameters_callback(check)
    for spec in specs:
        name = prefix + spec.name
        value = spec.to_ros(spec.default)
        if spec.item is not None and not value:
            # rclpy cannot tell an empty list's type: declare the type, then set the value.
            declared = node.declare_parameter(name, spec.type, spec.descriptor(name))
            if declared.type_ == Parameter.Type.NOT_SET and not spec.read_only:
                node.set_parameters([Parameter(name, spec.type, [])])
        else:
            node.declare_parameter(name, value, spec.descriptor(name))
    return read_params(node, schema, prefix)


@typing.overload
def read_params(node: Node, schema: type[T], prefix: str = '') -> T: ...


@typing.overload
def read_params(node: Node, schema: T, prefix: str = '') -> T: ...


def read_params(node: Node, schema: Any, prefix: str = '') -> Any:
    """Return the current values of ``schema``'s parameters on ``node`` as a new instance."""
    cls = schema if isinstance(schema, type) else type(schema)
    values = {}
    for spec in param_specs(schema):
        try:
            value = spec.from_ros(node.get_parameter(prefix + spec.name).value)
        except ParameterUninitializedException:  # a read-only empty array, never set
            value = spec.default
        values[spec.name] = value
    return cls(**values)


# -- documentation ---------------------------------------------------------------------------

def _yaml_value(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text[:-len('...')].strip() if text.endswith('\n...') else text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _notes(spec: ParamSpec) -> str:
    parts = [spec.unit]
    if spec.bounds is not None:
        parts.append(f'{_number(spec.bounds[0])}..{_number(spec.bounds[1])}')
    if spec.choices is not None:
        parts.append(' | '.join(str(m.value) for m in spec.choices))
    if spec.read_only:
        parts.append('read-only')
    notes = '; '.join(p for p in parts if p)
    return f' [{notes}]' if notes else ''


def params_yaml_section(node_name: str, *schemas: Any, source: str = '',
                        width: int = 99) -> str:
    """Return the ``<node_name>: ros__parameters:`` section of a parameter file.

    Each of ``schemas`` is a parameter dataclass (class or instance), or a ``(prefix,
    dataclass)`` pair for parameters declared with that prefix (``'nav2_watch.'``), written
    as a nested mapping. Every parameter is at its default, after a comment with its
    description and ``[unit; low..high; read-only]``. ``source`` names where it was
    generated from.
    """
    lines = [f'{node_name}:']
    if source:
        lines += textwrap.wrap(f'Generated from {source} by `python -m fleet_common.params`: '
                               'edit the dataclass, then regenerate.', width - 4,
                               initial_indent='  # ', subsequent_indent='  # ')
    lines.append('  ros__parameters:')
    for item in schemas:
        prefix, schema = item if isinstance(item, tuple) else ('', item)
        indent = '    '
        for name in (part for part in prefix.split('.') if part):
            lines.append(f'{indent}{name}:')
            indent += '  '
        for spec in param_specs(schema):
            lines += textwrap.wrap(spec.description + _notes(spec), width - len(indent) - 2,
                                   initial_indent=f'{indent}# ',
                                   subsequent_indent=f'{indent}# ', break_on_hyphens=False)
            lines.append(f'{indent}{spec.name}: {_yaml_value(spec.to_ros(spec.default))}')
    return '\n'.join(lines) + '\n'


def replace_yaml_section(text: str, node_name: str, section: str) -> str:
    """Return ``text`` with the top-level block ``<node_name>:`` replaced by ``section``
    (appended when absent). The block runs to the next line that starts in column 0;
    blank lines after it are kept."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines)
                  if line.rstrip() == f'{node_name}:'), None)
    if start is None:
        separator = '' if not text or text.endswith('\n\n') else \
            ('\n' if text.endswith('\n') else '\n\n')
        return text + separator + section
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in ' \t'):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return ''.join(lines[:start]) + section + ''.join(lines[end:])


def help_text(schema: type[Any] | Any, prefix: str = '') -> str:
    """Return one paragraph per parameter (name, type, default, notes, description), for a
    node's ``--help``."""
    out = []
    for spec in param_specs(schema):
        head = (f'  {prefix}{spec.name} ({spec.type.name.lower()}, default '
                f'{_yaml_value(spec.to_ros(spec.default))}){_notes(spec)}')
        out.append(head + '\n' + textwrap.fill(spec.description, 99, initial_indent=' ' * 6,
                                               subsequent_indent=' ' * 6))
    return '\n'.join(out) + '\n'


def _load(target: str) -> type[Any]:
    module, _, name = target.partition(':')
    cls = getattr(importlib.import_module(module), name, None)
    if not isinstance(cls, type):
        raise SystemExit(f'error: {target} is not a class (expected package.module:Class)')
    return cls


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or, with ``--check``, verify) generated node sections of a parameter file."""
    parser = argparse.ArgumentParser(
        prog='python -m fleet_common.params',
        description='Write the sections of a ROS parameter file that are generated from '
                    'parameter dataclasses.')
    parser.add_argument('file', type=pathlib.Path, help='the parameter file (YAML)')
    parser.add_argument('sections', nargs='+', metavar='NODE[:PREFIX]=package.module:Class',
                        help='node name (and the prefix its parameters are declared with) '
                             'and the dataclass that declares them; several entries for one '
                             'node make one section, in order')
    parser.add_argument('--check', action='store_true',
                        help='change nothing; exit 1 when the file is not up to date')
    args = parser.parse_args(argv)
    nodes: dict[str, list[tuple[str, type[Any]]]] = {}
    sources: dict[str, list[str]] = {}
    for item in args.sections:
        left, _, target = item.partition('=')
        node_name, _, prefix = left.partition(':')
        if not node_name or not target:
            parser.error(f'{item!r} is not NODE[:PREFIX]=package.module:Class')
        nodes.setdefault(node_name, []).append((prefix, _load(target)))
        sources.setdefault(node_name, []).append(target)
    old = args.file.read_text(encoding='utf-8') if args.file.exists() else ''
    new = old
    for node_name, schemas in nodes.items():
        section = params_yaml_section(node_name, *schemas,
                                      source=', '.join(sources[node_name]))
        new = replace_yaml_section(new, node_name, section)
    if args.check:
        if new != old:
            print(f'{args.file} is out of date; run without --check', file=sys.stderr)
            return 1
        return 0
    if new != old:
        args.file.write_text(new, encoding='utf-8')
    return 0


if __name__ == '__main__':
    # Run the imported module's main: the dataclasses hold its field metadata, not __main__'s.
    from fleet_common import params as _params
    sys.exit(_params.main())
