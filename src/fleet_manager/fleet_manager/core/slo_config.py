"""Loading SLO specs from ``config/slos.yaml``.

Schema (durations in seconds, ratios as fractions of 1)::

    slos:                            # required, a list (may be empty)
      - name: mission_success        # required, unique string
        sli: mission_success         # required, a registered SLI kind
        objective: 0.95              # required, strictly between 0 and 1
        period_s: 604800             # required, >= the longest alert window
        description: '...'           # optional string
        step_s: 60                   # optional, bucket width (default 60), <= every window
        threshold_s: 300             # required by latency kinds (ack_time), else rejected
        operating_hours:             # optional, only for kinds measured in operating hours
          utc_offset: '+01:00'       # optional, quoted '+HH:MM', '-HH:MM' or 'UTC' (default)
          shifts: ['06:00-14:00']    # required, 'HH:MM-HH:MM', may cross midnight
        alerts:                      # optional, default: the SRE workbook policy
          - {name: page-1h, severity: page, burn_rate: 14.4, long_s: 3600, short_s: 300}

Every problem raises :class:`fleet_manager.core.errors.ConfigError` naming the file and the
dotted/indexed key (``slos[1].objective``); YAML errors (syntax, duplicate keys) name the line
and column instead. Unknown keys are rejected, so typos do not pass silently.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml

from fleet_manager.core.errors import ConfigError, ValidationError
from fleet_manager.core.slo import (
    AlertWindow, OperatingHours, parse_utc_offset, Severity, Shift, SloSpec,
)

__all__ = ['load_slos', 'parse_slos']

_TOP_KEYS = frozenset({'slos'})
_SLO_REQUIRED = ('name', 'sli', 'objective', 'period_s')
_SLO_OPTIONAL = ('description', 'step_s', 'threshold_s', 'operating_hours', 'alerts')
_HOURS_REQUIRED = ('shifts',)
_HOURS_OPTIONAL = ('utc_offset',)
_ALERT_REQUIRED = ('name', 'severity', 'burn_rate', 'long_s', 'short_s')


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate mapping keys instead of keeping the last one."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode,
                              deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable: construct_mapping reports it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                'while constructing a mapping', node.start_mark,
                f'found duplicate key {key!r}', key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_unique_mapping)


def load_slos(path: str | os.PathLike[str]) -> list[SloSpec]:
    """Read and validate the SLO file at ``path``; raise ``ConfigError`` on any problem."""
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(file, '', f'cannot read the file: {error}') from error
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f'line {mark.line + 1}, column {mark.column + 1}' if mark else 'unknown line'
        problem = error.problem or error.context or 'invalid YAML'
        raise ConfigError(file, '', f'YAML error at {where}: {problem}') from error
    except yaml.YAMLError as error:
        raise ConfigError(file, '', f'YAML error: {error}') from error
    return parse_slos(data, file)


def parse_slos(data: object, file: str) -> list[SloSpec]:
    """Validate an already-parsed document (``file`` is only used in error messages)."""
    if data is None:
        raise ConfigError(file, 'slos', 'missing required key (the file is empty)')
    document = _mapping(data, file, '')
    _check_keys(document, file, '', ('slos',), ())
    entries = _list(document['slos'], file, 'slos')
    specs: list[SloSpec] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        spec = _parse_slo(entry, file, f'slos[{index}]')
        if spec.name in names:
            raise ConfigError(file, f'slos[{index}].name', f'duplicate SLO name {spec.name!r}')
        names.add(spec.name)
        specs.append(spec)
    return specs


def _parse_slo(entry: object, file: str, key: str) -> SloSpec:
    slo = _mapping(entry, file, key)
    _check_keys(slo, file, key, _SLO_REQUIRED, _SLO_OPTIONAL)
    kwargs: dict[str, Any] = {
        'name': _string(slo['name'], file, f'{key}.name'),
        'sli': _string(slo['sli'], file, f'{key}.sli'),
        'objective': _number(slo['objective'], file, f'{key}.objective'),
        'period_s': _number(slo['period_s'], file, f'{key}.period_s'),
    }
    if 'description' in slo:
        kwargs['description'] = _string(slo['description'], file, f'{key}.description',
                                        allow_empty=True)
    for name in ('step_s', 'threshold_s'):
        if name in slo:
            kwargs[name] = _number(slo[name], file, f'{key}.{name}')
    if 'operating_hours' in slo:
        kwargs['operating_hours'] = _parse_hours(slo['operating_hours'], file,
                                                 f'{key}.operating_hours')
    if 'alerts' in slo:
        items = _list(slo['alerts'], file, f'{key}.alerts')
        kwargs['alerts'] = tuple(_parse_alert(item, file, f'{key}.alerts[{index}]')
                                 for index, item in enumerate(items))
    try:
        return SloSpec(**kwargs)
    except ValidationError as error:
        if error.field.startswith('alerts') and 'alerts' not in slo:
            raise ConfigError(file, f'{key}.alerts', f'{error.reason} (with the default alert '
                              'policy; give alerts explicitly)') from error
        raise ConfigError(file, f'{key}.{error.field}', error.reason) from error


def _parse_hours(value: object, file: str, key: str) -> OperatingHours:
    hours = _mapping(value, file, key)
    _check_keys(hours, file, key, _HOURS_REQUIRED, _HOURS_OPTIONAL)
    offset = 0
    if 'utc_offset' in hours:
        raw = hours['utc_offset']
        if not isinstance(raw, str):
            raise ConfigError(file, f'{key}.utc_offset', f'expected a quoted string like '
                              f"'+01:00', got {_type_name(raw)} {raw!r}")
        try:
            offset = parse_utc_offset(raw)
        except ValueError as error:
            raise ConfigError(file, f'{key}.utc_offset', str(error)) from error
    texts = _list(hours['shifts'], file, f'{key}.shifts')
    if not texts:
        raise ConfigError(file, f'{key}.shifts', 'at least one shift is required')
    shifts: list[Shift] = []
    for index, text in enumerate(texts):
        where = f'{key}.shifts[{index}]'
        try:
            shifts.append(Shift.parse(_string(text, file, where)))
        except ValueError as error:
            if isinstance(error, ConfigError):
                raise
            raise ConfigError(file, where, str(error)) from error
    return OperatingHours(tuple(shifts), offset)


def _parse_alert(value: object, file: str, key: str) -> AlertWindow:
    alert = _mapping(value, file, key)
    _check_keys(alert, file, key, _ALERT_REQUIRED, ())
    severity = _string(alert['severity'], file, f'{key}.severity')
    if severity not in {member.value for member in Severity}:
        raise ConfigError(file, f'{key}.severity', f"expected 'page' or 'ticket', got "
                          f'{severity!r}')
    try:
        return AlertWindow(
            name=_string(alert['name'], file, f'{key}.name'),
            severity=Severity(severity),
            burn_rate=_number(alert['burn_rate'], file, f'{key}.burn_rate'),
            long_s=_number(alert['long_s'], file, f'{key}.long_s'),
            short_s=_number(alert['short_s'], file, f'{key}.short_s'),
        )
    except ValidationError as error:
        raise ConfigError(file, f'{key}.{error.field}', error.reason) from error


# --------------------------------------------------------------------------------------------
# Type checks
# --------------------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, list):
        return 'a list'
    if isinstance(value, dict):
        return 'a mapping'
    return type(value).__name__


def _check_keys(mapping: dict[Any, Any], file: str, key: str, required: tuple[str, ...],
                optional: tuple[str, ...]) -> None:
    """Reject unknown keys, then missing required ones (in schema order)."""
    prefix = f'{key}.' if key else ''
    allowed = set(required) | set(optional)
    for name in mapping:
        if name not in allowed:
            raise ConfigError(file, f'{prefix}{name}', f'unknown key; expected one of '
                              f'{", ".join(sorted(allowed))}')
    for name in required:
        if name not in mapping:
            raise ConfigError(file, f'{prefix}{name}', 'missing required key')


def _mapping(value: object, file: str, key: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ConfigError(file, key, f'expected a mapping, got {_type_name(value)}')
    return value


def _list(value: object, file: str, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(file, key, f'expected a list, got {_type_name(value)}')
    return value


def _string(value: object, file: str, key: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ConfigError(file, key, f'expected a string, got {_type_name(value)}')
    if not value and not allow_empty:
        raise ConfigError(file, key, 'must not be empty')
    return value


def _number(value: object, file: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(file, key, f'expected a number, got {_type_name(value)}')
    if not math.isfinite(value):
        raise ConfigError(file, key, f'expected a finite number, got {value!r}')
    return float(value)
