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
          utc_offset: '+01:00'       # optional (default 0): hours (1, -5.5) or '+HH:MM'
          shifts: ['06:00-14:00']    # required, 'HH:MM-HH:MM', may cross midnight
        min_coverage: 0.5            # optional (default 0.5): an alert fires only once this
                                     # share of its long window has been measured
        min_events: 20               # optional (default 0): ... and the long window holds at
                                     # least this much (events, robot-seconds for availability)
        alerts:                      # optional, default: the SRE workbook policy
          - {name: page-1h, severity: page, burn_rate: 14.4, long_s: 3600, short_s: 300}

The file is read by :func:`fleet_common.config.read_yaml` and checked with its
:class:`~fleet_common.config.ConfigReader`, like every other config file: each problem raises
:class:`~fleet_common.config.ConfigError` naming the file and the dotted/indexed key
(``slos[1].objective``); YAML errors (syntax, duplicate keys, bytes that are not UTF-8) name
the line and column instead. Unknown keys are rejected, so typos do not pass silently.
``utc_offset`` and shifts are read by :mod:`fleet_common.timeofday`, exactly as in
``workflows.yaml``.
"""

from __future__ import annotations

import os
from typing import Any

from fleet_common.config import ConfigReader, read_yaml
from fleet_common.timeofday import OperatingHours, Shift, parse_utc_offset
from fleet_manager.core.errors import ValidationError
from fleet_manager.core.severity import ALERT_SEVERITIES, Severity
from fleet_manager.core.slo_spec import AlertWindow, SloSpec

__all__ = ['load_slos', 'parse_slos']

_SLO_REQUIRED = ('name', 'sli', 'objective', 'period_s')
_SLO_OPTIONAL = ('description', 'step_s', 'threshold_s', 'operating_hours', 'alerts',
                 'min_coverage', 'min_events')
_ALERT_REQUIRED = ('name', 'severity', 'burn_rate', 'long_s', 'short_s')


def load_slos(path: str | os.PathLike[str]) -> list[SloSpec]:
    """Read and validate the SLO file at ``path``; raise ``ConfigError`` on any problem."""
    return parse_slos(read_yaml(path), os.fspath(path))


def parse_slos(data: object, file: str) -> list[SloSpec]:
    """Validate an already-parsed document (``file`` is only used in error messages)."""
    r = ConfigReader(file)
    if data is None:
        raise r.fail('slos', 'is required (the file is empty)')
    document = r.mapping(data, '')
    r.keys(document, '', required=('slos',))
    specs: list[SloSpec] = []
    names: set[str] = set()
    for index, entry in enumerate(r.seq(document['slos'], 'slos', required=True)):
        spec = _parse_slo(r, entry, f'slos[{index}]')
        if spec.name in names:
            raise r.fail(f'slos[{index}].name', f'duplicate SLO name {spec.name!r}')
        names.add(spec.name)
        specs.append(spec)
    return specs


def _parse_slo(r: ConfigReader, entry: object, key: str) -> SloSpec:
    slo = r.mapping(entry, key, required=True)
    r.keys(slo, key, _SLO_REQUIRED, _SLO_OPTIONAL)
    kwargs: dict[str, Any] = {
        'name': r.string(slo['name'], f'{key}.name', required=True),
        'sli': r.string(slo['sli'], f'{key}.sli', required=True),
        'objective': r.number(slo['objective'], f'{key}.objective'),
        'period_s': r.number(slo['period_s'], f'{key}.period_s'),
    }
    if 'description' in slo:
        kwargs['description'] = r.string(slo['description'], f'{key}.description')
    for name in ('step_s', 'threshold_s', 'min_coverage', 'min_events'):
        if name in slo:
            kwargs[name] = r.number(slo[name], f'{key}.{name}')
    if 'operating_hours' in slo:
        kwargs['operating_hours'] = _parse_hours(r, slo['operating_hours'],
                                                 f'{key}.operating_hours')
    if 'alerts' in slo:
        items = r.seq(slo['alerts'], f'{key}.alerts', required=True)
        kwargs['alerts'] = tuple(_parse_alert(r, item, f'{key}.alerts[{index}]')
                                 for index, item in enumerate(items))
    try:
        return SloSpec(**kwargs)
    except ValidationError as error:
        if error.field.startswith('alerts') and 'alerts' not in slo:
            raise r.fail(f'{key}.alerts', f'{error.reason} (with the default alert policy; '
                         'give alerts explicitly)') from error
        raise r.fail(f'{key}.{error.field}', error.reason) from error


def _parse_hours(r: ConfigReader, value: object, key: str) -> OperatingHours:
    hours = r.mapping(value, key, required=True)
    r.keys(hours, key, ('shifts',), ('utc_offset',))
    offset = r.convert(hours.get('utc_offset', 0), f'{key}.utc_offset', parse_utc_offset)
    texts = r.seq(hours['shifts'], f'{key}.shifts', required=True)
    if not texts:
        raise r.fail(f'{key}.shifts', 'at least one shift is required')
    shifts = tuple(r.convert(r.string(text, f'{key}.shifts[{index}]', required=True),
                             f'{key}.shifts[{index}]', Shift.parse)
                   for index, text in enumerate(texts))
    return OperatingHours(shifts, offset)


def _parse_alert(r: ConfigReader, value: object, key: str) -> AlertWindow:
    alert = r.mapping(value, key, required=True)
    r.keys(alert, key, _ALERT_REQUIRED)
    severity = r.convert(alert['severity'], f'{key}.severity',
                         lambda text: Severity.parse(text, ALERT_SEVERITIES))
    try:
        return AlertWindow(
            name=r.string(alert['name'], f'{key}.name', required=True),
            severity=severity,
            burn_rate=r.number(alert['burn_rate'], f'{key}.burn_rate'),
            long_s=r.number(alert['long_s'], f'{key}.long_s'),
            short_s=r.number(alert['short_s'], f'{key}.short_s'),
        )
    except ValidationError as error:
        raise r.fail(f'{key}.{error.field}', error.reason) from error
