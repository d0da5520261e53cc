"""The rule engine: robot facts and telemetry in, actions out (``config/workflows.yaml``).

A rule is ``trigger`` + ``when`` (conditions) + ``actions``::

    - name: stuck robot
      trigger: {type: count, kind: recovery_started, count: 3, window: 600}
      when: {shift: night}
      actions:
        - open_incident: {type: robot_stuck, severity: SEV2}
        - command: pause

Triggers, conditions and actions are classes registered by name in ``TRIGGERS``,
``CONDITIONS`` and ``ACTIONS``; each states its contract in its docstring, and adding one is
adding a class, not a branch. The engine only decides: it returns action dataclasses
(:mod:`fleet_manager.core.incident_model`) for the caller to perform, in rule order then
action order. Conditions are checked first, so a rule's trigger only counts the facts the
rule is about (three recoveries *in aisle_b*, not three anywhere).

Times are the facts' own (``FleetFact.time``/``Telemetry.time``, manager clock); nothing
here reads a clock.
"""

from __future__ import annotations

import abc
import bisect
from dataclasses import dataclass, field
import pathlib
import re
from typing import Any, ClassVar, Mapping, TypeVar

from fleet_common.config import ConfigReader, read_yaml
from fleet_common.timeofday import Shift, parse_utc_offset
from fleet_manager.core.escalation import (
    EscalationConfig,
    parse_escalation,
    parse_shift,
    parse_shifts,
)
from fleet_manager.core.incident_model import (
    TELEMETRY_FIELDS,
    Action,
    Command,
    CommandAction,
    EscalateAction,
    FleetFact,
    NotifyAction,
    OpenIncidentAction,
    Severity,
    Telemetry,
)
from fleet_manager.core.incidents import DEDUP_FIELDS, IncidentSettings

__all__ = [
    'ACTIONS', 'CONDITIONS', 'TRIGGERS', 'Action', 'ActionSpec', 'CommandAction',
    'Condition', 'EscalateAction', 'NotifyAction', 'OpenIncidentAction', 'ParseContext',
    'Rule', 'RuleEngine', 'Trigger', 'TriggerMatch', 'Workflows', 'load_workflows',
    'parse_workflows', 'register_action', 'register_condition', 'register_trigger',
]

CONNECTIVITY_KIND = 'robot.connectivity'
MISSION_STATE_KIND = 'mission.state'
MISSION_FAILED_KINDS = ('mission_failed', 'mission.failed')
_INCIDENT_TYPE = re.compile(r'^[a-z][a-z0-9_]*$')

Subject = FleetFact | Telemetry
Memory = dict[Any, Any]


@dataclass(frozen=True)
class ParseContext:
    """What parsers need beyond their own YAML: the reader and the file's named things."""

    r: ConfigReader
    shifts: Mapping[str, Shift]
    utc_offset: int
    escalation: EscalationConfig


@dataclass(frozen=True)
class TriggerMatch:
    """A trigger fired: for ``robot_id`` at ``time``, because of ``fact``.

    For telemetry triggers ``fact`` is synthesised (kind ``telemetry.threshold``) so every
    action and incident has one fact to point at.
    """

    robot_id: str
    time: float
    fact: FleetFact
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


# -- registries ----------------------------------------------------------------------------

class Trigger(abc.ABC):
    """Decides when a rule fires.

    Contract: ``parse`` builds an immutable trigger from its YAML mapping (``type`` removed)
    or raises ConfigError; ``on_fact``/``on_telemetry`` see every fact/telemetry sample
    that passed the rule's conditions, may keep state in ``memory`` (a dict the engine owns,
    one per rule) and return a TriggerMatch when the rule fires, else None.
    """

    name: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def parse(cls, ctx: ParseContext, raw: dict[str, Any], key: str) -> 'Trigger':
        """Build the trigger from ``raw``; ConfigError on problems."""

    def on_fact(self, fact: FleetFact, memory: Memory) -> TriggerMatch | None:
        """Return a match when ``fact`` makes the rule fire; default: never."""
        return None

    def on_telemetry(self, telemetry: Telemetry, memory: Memory) -> TriggerMatch | None:
        """Return a match when the sample makes the rule fire; default: never."""
        return None

    def fact_kinds(self) -> frozenset[str] | None:
        """The fact kinds :meth:`on_fact` can fire on (None: any kind). The engine skips
        the rule's conditions for other facts, which keeps a large fleet's facts cheap."""
        return None

    watches_telemetry: ClassVar[bool] = True
    """False when :meth:`on_telemetry` never fires (the engine then skips the rule)."""


class Condition(abc.ABC):
    """Restricts a rule to some facts.

    Contract: ``parse`` builds an immutable condition from the value under its name in the
    rule's ``when:`` mapping, or raises ConfigError; ``holds`` is a pure function of the
    subject (its robot, area, group, site and time).
    """

    name: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'Condition':
        """Build the condition from ``raw``; ConfigError on problems."""

    @abc.abstractmethod
    def holds(self, subject: Subject) -> bool:
        """Return True when the rule applies to ``subject``."""


class ActionSpec(abc.ABC):
    """One configured action of a rule.

    Contract: ``parse`` builds an immutable spec from the value under its name (a scalar
    shorthand or a mapping) and checks every reference (channel, policy) or raises
    ConfigError; ``build`` turns a match into the action dataclass, without side effects.
    """

    name: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'ActionSpec':
        """Build the spec from ``raw``; ConfigError on problems."""

    @abc.abstractmethod
    def build(self, rule: str, match: TriggerMatch) -> Action:
        """Return the action to perform for ``match`` of rule ``rule``."""


TRIGGERS: dict[str, type[Trigger]] = {}
CONDITIONS: dict[str, type[Condition]] = {}
ACTIONS: dict[str, type[ActionSpec]] = {}

_T = TypeVar('_T', bound=type)


def register_trigger(cls: _T) -> _T:
    """Class decorator: make a Trigger available under ``cls.name``."""
    TRIGGERS[cls.name] = cls  # type: ignore[attr-defined]
    return cls


def register_condition(cls: _T) -> _T:
    """Class decorator: make a Condition available under ``cls.name``."""
    CONDITIONS[cls.name] = cls  # type: ignore[attr-defined]
    return cls


def register_action(cls: _T) -> _T:
    """Class decorator: make an ActionSpec available under ``cls.name``."""
    ACTIONS[cls.name] = cls  # type: ignore[attr-defined]
    return cls


# -- shared helpers ------------------------------------------------------------------------

def _parse_match(ctx: ParseContext, raw: Any, key: str) -> dict[str, Any]:
    """Parse ``match: {field: value | [values]}`` (scalars only, so equality is clear)."""
    match = ctx.r.mapping(raw, key)
    for name, value in match.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, (dict, list)) or v is None:
                raise ctx.r.fail(f'{key}.{name}', 'must be a scalar or a list of scalars')
    return dict(match)


def _data_matches(data: Mapping[str, Any], match: Mapping[str, Any]) -> bool:
    """Return True when every ``match`` field equals (or is one of) the data's value."""
    for name, expected in match.items():
        if name not in data:
            return False
        actual = data[name]
        if isinstance(expected, list):
            if actual not in expected:
                return False
        elif actual != expected:
            return False
    return True


def _describe_match(match: Mapping[str, Any]) -> str:
    return ', '.join(f'{k}={v}' for k, v in match.items())


def _kinds(ctx: ParseContext, raw: dict[str, Any], key: str) -> tuple[str, ...]:
    return ctx.r.strings(raw.get('kind'), f'{key}.kind', required=True)


# -- triggers ------------------------------------------------------------------------------

@register_trigger
@dataclass(frozen=True)
class EventTrigger(Trigger):
    """``event``: fires on every fact whose kind is one of ``kind`` and whose data matches
    ``match`` (each field equal to the value, or one of a list). Stateless."""

    name: ClassVar[str] = 'event'
    kinds: tuple[str, ...]
    match: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, ctx: ParseContext, raw: dict[str, Any], key: str) -> 'EventTrigger':
        ctx.r.unknown_keys(raw, {'type', 'kind', 'match'}, key)
        return cls(_kinds(ctx, raw, key), _parse_match(ctx, raw.get('match'), f'{key}.match'))

    watches_telemetry: ClassVar[bool] = False

    def fact_kinds(self) -> frozenset[str] | None:
        return frozenset(self.kinds)

    def on_fact(self, fact: FleetFact, memory: Memory) -> TriggerMatch | None:
        if fact.kind not in self.kinds or not _data_matches(fact.data, self.match):
            return None
        detail = _describe_match({k: fact.data[k] for k in self.match}) or fact.message
        reason = f'{fact.kind} on {fact.robot_id}' + (f' ({detail})' if detail else '')
        return TriggerMatch(fact.robot_id, fact.time, fact, reason)


COUNT_SCOPES = ('robot', 'area', 'group', 'site', 'mission')


@register_trigger
@dataclass(frozen=True)
class CountTrigger(Trigger):
    """``count``: fires when ``count`` facts of ``kind`` (matching ``match``) fall within
    ``window`` seconds of each other for one key.

    The key is the facts' ``per`` fields (default ``robot``; ``[robot, area]``, ``site``,
    ...; ``fleet`` or ``[]`` counts across the fleet). An earlier fact is inside the window
    when ``latest.time - earlier.time <= window``. After firing the key's count restarts,
    so the rule fires again only after ``count`` further facts. Only the last ``count``
    times per key are kept, so memory stays bounded during a flood.
    """

    name: ClassVar[str] = 'count'
    kinds: tuple[str, ...]
    count: int
    window: float
    per: tuple[str, ...] = ('robot',)
    match: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, ctx: ParseContext, raw: dict[str, Any], key: str) -> 'CountTrigger':
        r = ctx.r
        r.unknown_keys(raw, {'type', 'kind', 'count', 'window', 'per', 'match'}, key)
        count = r.integer(raw.get('count'), f'{key}.count', minimum=1)
        window = r.positive(raw.get('window'), f'{key}.window')
        per_raw = raw.get('per', 'robot')
        per = () if per_raw == 'fleet' else r.strings(per_raw, f'{key}.per')
        for i, name in enumerate(per):
            if name not in COUNT_SCOPES:
                where = f'{key}.per' if isinstance(per_raw, str) else f'{key}.per[{i}]'
                raise r.fail(where, f'unknown scope {name!r} (expected fleet or some of: '
                             f'{", ".join(COUNT_SCOPES)})')
        return cls(_kinds(ctx, raw, key), count, window, tuple(per),
                   _parse_match(ctx, raw.get('match'), f'{key}.match'))

    def _key(self, fact: FleetFact) -> tuple[str, ...]:
        values = {'robot': fact.robot_id, 'area': fact.area or '', 'group': fact.group or '',
                  'site': fact.site or '', 'mission': fact.mission_id or ''}
        return tuple(values[name] for name in self.per)

    watches_telemetry: ClassVar[bool] = False

    def fact_kinds(self) -> frozenset[str] | None:
        return frozenset(self.kinds)

    def on_fact(self, fact: FleetFact, memory: Memory) -> TriggerMatch | None:
        if fact.kind not in self.kinds or not _data_matches(fact.data, self.match):
            return None
        times: list[float] = memory.setdefault(self._key(fact), [])
        # Facts can arrive out of order (an agent replays after an outage): keep sorted.
        bisect.insort(times, fact.time)
        del times[:-self.count]
        if len(times) < self.count or times[-1] - times[0] > self.window:
            return None
        first = times[0]
        times.clear()
        reason = (f'{self.count} x {fact.kind} within {fact.time - first:g} s '
                  f'(limit {self.count} in {self.window:g} s) on {fact.robot_id}')
        return TriggerMatch(fact.robot_id, fact.time, fact, reason,
                            {'count': self.count, 'window': self.window, 'first_at': first})


@register_trigger
@dataclass(frozen=True)
class ThresholdTrigger(Trigger):
    """``threshold``: fires when telemetry ``field`` crosses ``below`` (or ``above``),
    optionally only ``while_on_mission``.

    Per robot the trigger is armed at start. A sample beyond the threshold fires if armed
    (and, with ``while_on_mission``, the robot is on a mission) and disarms it; a sample
    back on the good side of ``rearm`` (default: the threshold itself; set it for
    hysteresis, e.g. below 0.15, rearm 0.20) re-arms it. Unknown values (None/NaN) change
    nothing. So a battery hovering around 0.15 fires once, not on every sample.
    """

    name: ClassVar[str] = 'threshold'
    field_name: str
    limit: float
    below: bool
    rearm: float
    while_on_mission: bool = False

    @classmethod
    def parse(cls, ctx: ParseContext, raw: dict[str, Any], key: str) -> 'ThresholdTrigger':
        r = ctx.r
        r.unknown_keys(raw, {'type', 'field', 'below', 'above', 'rearm', 'while_on_mission'},
                       key)
        name = r.string(raw.get('field'), f'{key}.field', required=True)
        if name not in TELEMETRY_FIELDS and not (name.startswith('extra.') and len(name) > 6):
            raise r.fail(f'{key}.field', f'unknown telemetry field {name!r} (expected one of: '
                         f'{", ".join(TELEMETRY_FIELDS)} or extra.<name>)')
        if ('below' in raw) == ('above' in raw):
            raise r.fail(key, 'needs exactly one of below or above')
        below = 'below' in raw
        word = 'below' if below else 'above'
        limit = r.number(raw[word], f'{key}.{word}')
        rearm = limit if raw.get('rearm') is None else r.number(raw['rearm'], f'{key}.rearm')
        if (below and rearm < limit) or (not below and rearm > limit):
            raise r.fail(f'{key}.rearm', f'must be on the clear side of the threshold '
                         f'({">=" if below else "<="} {limit:g})')
        return cls(name, limit, below, rearm,
                   r.boolean(raw.get('while_on_mission'), f'{key}.while_on_mission'))

    def fact_kinds(self) -> frozenset[str] | None:
        return frozenset()

    def on_telemetry(self, telemetry: Telemetry, memory: Memory) -> TriggerMatch | None:
        value = telemetry.value(self.field_name)
        if value is None:
            return None
        robot = telemetry.robot_id
        beyond = value < self.limit if self.below else value > self.limit
        cleared = value >= self.rearm if self.below else value <= self.rearm
        if beyond:
            if not memory.get(robot, True):
                return None
            if self.while_on_mission and not telemetry.on_mission:
                return None
            memory[robot] = False
            word = 'below' if self.below else 'above'
            where = f' during mission {telemetry.mission_id}' if telemetry.on_mission and \
                telemetry.mission_id else ''
            data = {'field': self.field_name, 'value': value, word: self.limit}
            fact = FleetFact('telemetry.threshold', robot, telemetry.time, dict(data),
                             telemetry.area, telemetry.group, telemetry.site,
                             telemetry.mission_id, telemetry.pose)
            return TriggerMatch(robot, telemetry.time, fact,
                                f'{self.field_name} {value:g} {word} {self.limit:g}{where}',
                                data)
        if cleared:
            memory[robot] = True
        return None


@register_trigger
@dataclass(frozen=True)
class OfflineTrigger(Trigger):
    """``offline``: fires when a robot's connectivity becomes ``offline``.

    Sources: ``robot.connectivity`` facts (data ``from``/``to``, the registry's event) and
    telemetry ``connectivity``. The last state per robot is remembered, so the same
    transition seen through both sources fires once; telemetry only fires on a change it
    saw (a robot first seen offline at start-up does not fire).
    """

    name: ClassVar[str] = 'offline'

    @classmethod
    def parse(cls, ctx: ParseContext, raw: dict[str, Any], key: str) -> 'OfflineTrigger':
        ctx.r.unknown_keys(raw, {'type'}, key)
        return cls()

    def _change(self, robot: str, before: Any, after: str, memory: Memory) -> bool:
        previous = memory.get(robot, before)
        memory[robot] = after
        return after == 'offline' and previous is not None and previous != 'offline'

    def fact_kinds(self) -> frozenset[str] | None:
        return frozenset({CONNECTIVITY_KIND})

    def on_fact(self, fact: FleetFact, memory: Memory) -> TriggerMatch | None:
        if fact.kind != CONNECTIVITY_KIND or 'to' not in fact.data:
            return None
        # A fact without 'from' still reports a change; only telemetry needs a prior state.
        if not self._change(fact.robot_id, fact.data.get('from', 'unknown'),
                            str(fact.data['to']), memory):
            return None
        why = fact.data.get('reason')
        return TriggerMatch(fact.robot_id, fact.time, fact,
                            f'{fact.robot_id} went offline' + (f': {why}' if why else ''))

    def on_telemetry(self, telemetry: Telemetry, memory: Memory) -> TriggerMatch | None:
        if not self._change(telemetry.robot_id, None, telemetry.connectivity, memory):
            return None
        fact = FleetFact(CONNECTIVITY_KIND, telemetry.robot_id, telemetry.time,
                         {'to': 'offline'}, telemetry.area, telemetry.group, telemetry.site,
                         telemetry.mission_id, telemetry.pose)
        return TriggerMatch(telemetry.robot_id, telemetry.time, fact,
                            f'{telemetry.robot_id} went offline')


@register_trigger
@dataclass(frozen=True)
class MissionFailedTrigger(Trigger):
    """``mission_failed``: fires on a failed mission, optionally matching ``match``.

    A failure is a fact of kind ``mission_failed``/``mission.failed``, or ``mission.state``
    whose data ``state`` (or ``to``) is ``failed`` (any case). Stateless.
    """

    name: ClassVar[str] = 'mission_failed'
    match: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, ctx: ParseContext, raw: dict[str, Any],
              key: str) -> 'MissionFailedTrigger':
        ctx.r.unknown_keys(raw, {'type', 'match'}, key)
        return cls(_parse_match(ctx, raw.get('match'), f'{key}.match'))

    watches_telemetry: ClassVar[bool] = False

    def fact_kinds(self) -> frozenset[str] | None:
        return frozenset(MISSION_FAILED_KINDS) | {MISSION_STATE_KIND}

    def on_fact(self, fact: FleetFact, memory: Memory) -> TriggerMatch | None:
        if fact.kind in MISSION_FAILED_KINDS:
            failed = True
        elif fact.kind == MISSION_STATE_KIND:
            state = fact.data.get('state', fact.data.get('to', ''))
            failed = str(state).lower() == 'failed'
        else:
            failed = False
        if not failed or not _data_matches(fact.data, self.match):
            return None
        mission = fact.mission_id or fact.data.get('mission_id') or '?'
        why = fact.data.get('reason') or fact.data.get('error') or fact.message
        return TriggerMatch(fact.robot_id, fact.time, fact,
                            f'mission {mission} failed on {fact.robot_id}'
                            + (f': {why}' if why else ''))


# -- conditions ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _AttributeCondition(Condition):
    """Holds when the subject's ``attribute`` is one of ``values`` (a name or a list)."""

    attribute: ClassVar[str]
    values: tuple[str, ...]

    @classmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'Condition':
        return cls(ctx.r.strings(raw, key, required=True))

    def holds(self, subject: Subject) -> bool:
        return getattr(subject, self.attribute) in self.values


@register_condition
@dataclass(frozen=True)
class GroupCondition(_AttributeCondition):
    """``group``: the robot's group (fleet.yaml) is one of the values."""

    name: ClassVar[str] = 'group'
    attribute: ClassVar[str] = 'group'


@register_condition
@dataclass(frozen=True)
class SiteCondition(_AttributeCondition):
    """``site``: the robot's site is one of the values."""

    name: ClassVar[str] = 'site'
    attribute: ClassVar[str] = 'site'


@register_condition
@dataclass(frozen=True)
class AreaCondition(_AttributeCondition):
    """``area``: the map area the robot is in is one of the values (None never matches)."""

    name: ClassVar[str] = 'area'
    attribute: ClassVar[str] = 'area'


@register_condition
@dataclass(frozen=True)
class RobotCondition(_AttributeCondition):
    """``robot``: the robot id is one of the values."""

    name: ClassVar[str] = 'robot'
    attribute: ClassVar[str] = 'robot_id'


@register_condition
@dataclass(frozen=True)
class ShiftCondition(Condition):
    """``shift``: the subject's time, in the file's ``utc_offset``, falls in one of the named
    ``shifts`` (``HH:MM-HH:MM``, start included, end excluded, may cross midnight)."""

    name: ClassVar[str] = 'shift'
    names: tuple[str, ...]
    windows: tuple[Shift, ...]
    utc_offset: int

    @classmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'ShiftCondition':
        names = ctx.r.strings(raw, key, required=True)
        for i, name in enumerate(names):
            if name not in ctx.shifts:
                where = key if isinstance(raw, str) else f'{key}[{i}]'
                raise ctx.r.fail(where, f'unknown shift {name!r} (shifts: '
                                 f'{", ".join(sorted(ctx.shifts)) or "none defined"})')
        return cls(names, tuple(ctx.shifts[n] for n in names), ctx.utc_offset)

    def holds(self, subject: Subject) -> bool:
        local = subject.time + self.utc_offset
        return any(w.contains(local) for w in self.windows)


@register_condition
@dataclass(frozen=True)
class HoursCondition(Condition):
    """``hours``: like ``shift`` with the window(s) written inline, ``'22:00-06:00'`` or a
    list of them, for a rule whose time window is not one of the named shifts."""

    name: ClassVar[str] = 'hours'
    windows: tuple[Shift, ...]
    utc_offset: int

    @classmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'HoursCondition':
        texts = ctx.r.strings(raw, key, required=True)
        keys = [key] if isinstance(raw, str) else [f'{key}[{i}]' for i in range(len(texts))]
        return cls(tuple(parse_shift(ctx.r, text, where) for text, where in zip(texts, keys)),
                   ctx.utc_offset)

    def holds(self, subject: Subject) -> bool:
        local = subject.time + self.utc_offset
        return any(w.contains(local) for w in self.windows)


# -- actions -------------------------------------------------------------------------------

def _check_policy(ctx: ParseContext, name: str, key: str) -> None:
    if name not in ctx.escalation.policies:
        raise ctx.r.fail(key, f'unknown escalation policy {name!r} (escalation_policies: '
                         f'{", ".join(sorted(ctx.escalation.policies)) or "none"})')


@register_action
@dataclass(frozen=True)
class OpenIncidentSpec(ActionSpec):
    """``open_incident: {type, severity, policy?, title?}``: open or update an incident of
    ``type`` (lower_snake_case) at ``severity`` (SEV0..SEV3), escalated by ``policy`` (the
    file's default_policy when omitted; ``none`` for no escalation)."""

    name: ClassVar[str] = 'open_incident'
    type: str
    severity: Severity
    policy: str = ''
    title: str = ''

    @classmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'OpenIncidentSpec':
        r = ctx.r
        raw = r.mapping(raw, key, required=True)
        r.unknown_keys(raw, {'type', 'severity', 'policy', 'title'}, key)
        itype = r.string(raw.get('type'), f'{key}.type', required=True)
        if not _INCIDENT_TYPE.match(itype):
            raise r.fail(f'{key}.type', f'{itype!r} is not an incident type (lower_snake_case)')
        text = r.string(raw.get('severity'), f'{key}.severity', required=True)
        try:
            severity = Severity.parse(text)
        except ValueError as exc:
            raise r.fail(f'{key}.severity', str(exc)) from None
        policy = r.string(raw.get('policy'), f'{key}.policy')
        if policy == 'none':
            policy = ''
        elif policy:
            _check_policy(ctx, policy, f'{key}.policy')
        elif 'policy' not in raw:
            policy = ctx.escalation.default_policy
        return cls(itype, severity, policy, r.string(raw.get('title'), f'{key}.title'))

    def build(self, rule: str, match: TriggerMatch) -> Action:
        return OpenIncidentAction(rule=rule, robot_id=match.robot_id, time=match.time,
                                  fact=match.fact, reason=match.reason, type=self.type,
                                  severity=self.severity, policy=self.policy,
                                  title=self.title)


@register_action
@dataclass(frozen=True)
class NotifySpec(ActionSpec):
    """``notify: <channel>`` or ``{channel, message?}``: one message to a configured channel;
    the default message is ``<rule>: <reason>``."""

    name: ClassVar[str] = 'notify'
    channel: str
    message: str = ''

    @classmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'NotifySpec':
        r = ctx.r
        if isinstance(raw, str) or raw is None:
            channel_key, channel, message = key, r.string(raw, key, required=True), ''
        else:
            raw = r.mapping(raw, key, required=True)
            r.unknown_keys(raw, {'channel', 'message'}, key)
            channel_key = f'{key}.channel'
            channel = r.string(raw.get('channel'), channel_key, required=True)
            message = r.string(raw.get('message'), f'{key}.message')
        if channel not in ctx.escalation.channels:
            raise r.fail(channel_key, f'unknown channel {channel!r} (channels: '
                         f'{", ".join(sorted(ctx.escalation.channels)) or "none"})')
        return cls(channel, message)

    def build(self, rule: str, match: TriggerMatch) -> Action:
        return NotifyAction(rule=rule, robot_id=match.robot_id, time=match.time,
                            fact=match.fact, reason=match.reason, channel=self.channel,
                            message=self.message or f'{rule}: {match.reason}')


@register_action
@dataclass(frozen=True)
class CommandSpec(ActionSpec):
    """``command: <pause|resume|return_to_dock|cancel_mission>`` or ``{name, args?}``:
    send the command to the robot the rule fired for."""

    name: ClassVar[str] = 'command'
    command: Command
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'CommandSpec':
        r = ctx.r
        if isinstance(raw, str) or raw is None:
            name_key, name, args = key, r.string(raw, key, required=True), {}
        else:
            raw = r.mapping(raw, key, required=True)
            r.unknown_keys(raw, {'name', 'args'}, key)
            name_key = f'{key}.name'
            name = r.string(raw.get('name'), name_key, required=True)
            args = dict(r.mapping(raw.get('args'), f'{key}.args'))
        try:
            command = Command(name)
        except ValueError:
            raise r.fail(name_key, f'unknown command {name!r} (expected one of: '
                         f'{", ".join(c.value for c in Command)})') from None
        return cls(command, args)

    def build(self, rule: str, match: TriggerMatch) -> Action:
        return CommandAction(rule=rule, robot_id=match.robot_id, time=match.time,
                             fact=match.fact, reason=match.reason, command=self.command,
                             args=dict(self.args))


@register_action
@dataclass(frozen=True)
class EscalateSpec(ActionSpec):
    """``escalate`` (no value) or ``{policy?, type?}``: escalate now instead of waiting for
    the timeout (see EscalateAction for which incident)."""

    name: ClassVar[str] = 'escalate'
    policy: str = ''
    incident_type: str = ''

    @classmethod
    def parse(cls, ctx: ParseContext, raw: Any, key: str) -> 'EscalateSpec':
        r = ctx.r
        raw = r.mapping(raw, key)
        r.unknown_keys(raw, {'policy', 'type'}, key)
        policy = r.string(raw.get('policy'), f'{key}.policy')
        if policy:
            _check_policy(ctx, policy, f'{key}.policy')
        return cls(policy, r.string(raw.get('type'), f'{key}.type'))

    def build(self, rule: str, match: TriggerMatch) -> Action:
        return EscalateAction(rule=rule, robot_id=match.robot_id, time=match.time,
                              fact=match.fact, reason=match.reason, policy=self.policy,
                              incident_type=self.incident_type)


# -- rules and the engine ------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One configured rule; it fires when its conditions hold and its trigger matches."""

    name: str
    trigger: Trigger
    conditions: tuple[Condition, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    enabled: bool = True
    description: str = ''

    def applies_to(self, subject: Subject) -> bool:
        """Return True when the rule is enabled and every condition holds."""
        return self.enabled and all(c.holds(subject) for c in self.conditions)


@dataclass(frozen=True)
class Workflows:
    """A validated ``workflows.yaml``: rules, shifts, escalation and incident settings."""

    rules: tuple[Rule, ...]
    shifts: Mapping[str, Shift]
    utc_offset: int
    escalation: EscalationConfig
    incidents: IncidentSettings
    source: str = ''


class RuleEngine:
    """Evaluates the rules; owns the triggers' memory (windows, arming), nothing else.

    Not thread-safe: the node calls it from one executor thread. Memory is not persisted:
    after a restart, counts start from zero and thresholds are armed.
    """

    def __init__(self, workflows: Workflows) -> None:
        self.workflows = workflows
        self._memory: dict[str, Memory] = {rule.name: {} for rule in workflows.rules}
        self._by_kind: dict[str, tuple[Rule, ...]] = {}
        self._telemetry_rules = tuple(r for r in workflows.rules
                                      if r.trigger.watches_telemetry)

    def _rules_for(self, kind: str) -> tuple[Rule, ...]:
        """The rules whose trigger can fire on facts of ``kind``, in file order."""
        rules = self._by_kind.get(kind)
        if rules is None:
            rules = self._by_kind[kind] = tuple(
                r for r in self.workflows.rules
                if (kinds := r.trigger.fact_kinds()) is None or kind in kinds)
        return rules

    def on_fact(self, fact: FleetFact) -> list[Action]:
        """Return the actions of every rule ``fact`` fires, in file order."""
        out: list[Action] = []
        for rule in self._rules_for(fact.kind):
            if rule.applies_to(fact):
                match = rule.trigger.on_fact(fact, self._memory[rule.name])
                if match is not None:
                    out.extend(a.build(rule.name, match) for a in rule.actions)
        return out

    def on_telemetry(self, telemetry: Telemetry) -> list[Action]:
        """Return the actions of every rule the telemetry sample fires, in file order."""
        out: list[Action] = []
        for rule in self._telemetry_rules:
            if rule.applies_to(telemetry):
                match = rule.trigger.on_telemetry(telemetry, self._memory[rule.name])
                if match is not None:
                    out.extend(a.build(rule.name, match) for a in rule.actions)
        return out


# -- loading -------------------------------------------------------------------------------

TOP_LEVEL_KEYS = ('version', 'utc_offset', 'shifts', 'channels', 'users', 'schedules',
                  'escalation_policies', 'default_policy', 'incidents', 'rules')


def _parse_incident_settings(r: ConfigReader, raw: Any) -> IncidentSettings:
    data = r.mapping(raw, 'incidents')
    r.unknown_keys(data, {'dedup_key', 'dedup_window', 'recurrence_lookback',
                          'recurrence_by', 'timeline_repeats'}, 'incidents')
    defaults = IncidentSettings()
    dedup_key = defaults.dedup_key
    if 'dedup_key' in data:
        dedup_key = r.strings(data['dedup_key'], 'incidents.dedup_key', required=True)
        for i, name in enumerate(dedup_key):
            if name not in DEDUP_FIELDS:
                raise r.fail(f'incidents.dedup_key[{i}]', f'unknown field {name!r} '
                             f'(expected some of: {", ".join(DEDUP_FIELDS)})')
    window = defaults.dedup_window if data.get('dedup_window') is None else \
        r.positive(data['dedup_window'], 'incidents.dedup_window')
    lookback = defaults.recurrence_lookback if data.get('recurrence_lookback') is None else \
        r.positive(data['recurrence_lookback'], 'incidents.recurrence_lookback')
    by = r.string(data.get('recurrence_by'), 'incidents.recurrence_by') or \
        defaults.recurrence_by
    if by not in ('area', 'robot'):
        raise r.fail('incidents.recurrence_by', f'must be area or robot, got {by!r}')
    repeats = defaults.timeline_repeats if data.get('timeline_repeats') is None else \
        r.integer(data['timeline_repeats'], 'incidents.timeline_repeats', minimum=0)
    return IncidentSettings(tuple(dedup_key), window, lookback, by, repeats)


def _parse_rule(ctx: ParseContext, raw: Any, key: str) -> Rule:
    r = ctx.r
    raw = r.mapping(raw, key, required=True)
    r.unknown_keys(raw, {'name', 'description', 'enabled', 'trigger', 'when', 'actions'}, key)
    name = r.string(raw.get('name'), f'{key}.name', required=True)

    tkey = f'{key}.trigger'
    traw = r.mapping(raw.get('trigger'), tkey, required=True)
    ttype = r.string(traw.get('type'), f'{tkey}.type', required=True)
    if ttype not in TRIGGERS:
        raise r.fail(f'{tkey}.type', f'unknown trigger {ttype!r} (expected one of: '
                     f'{", ".join(sorted(TRIGGERS))})')
    trigger = TRIGGERS[ttype].parse(ctx, traw, tkey)

    conditions = []
    ckey = f'{key}.when'
    for cname, cvalue in r.mapping(raw.get('when'), ckey).items():
        if cname not in CONDITIONS:
            raise r.fail(f'{ckey}.{cname}', f'unknown condition {cname!r} (expected one of: '
                         f'{", ".join(sorted(CONDITIONS))})')
        conditions.append(CONDITIONS[cname].parse(ctx, cvalue, f'{ckey}.{cname}'))

    akey = f'{key}.actions'
    raw_actions = r.seq(raw.get('actions'), akey, required=True)
    if not raw_actions:
        raise r.fail(akey, 'must list at least one action')
    actions = []
    for i, araw in enumerate(raw_actions):
        item = f'{akey}[{i}]'
        aname, body = r.single_key(araw, item, 'action')
        if aname not in ACTIONS:
            raise r.fail(f'{item}.{aname}' if isinstance(araw, dict) else item,
                         f'unknown action {aname!r} (expected one of: '
                         f'{", ".join(sorted(ACTIONS))})')
        actions.append(ACTIONS[aname].parse(ctx, body, f'{item}.{aname}'))
    return Rule(name, trigger, tuple(conditions), tuple(actions),
                r.boolean(raw.get('enabled'), f'{key}.enabled', default=True),
                r.string(raw.get('description'), f'{key}.description'))


def parse_workflows(root: Any, file: str = '<workflows>') -> Workflows:
    """Validate an already parsed workflows tree; ConfigError(file, key) on any problem."""
    r = ConfigReader(file)
    root = r.root(root)
    r.unknown_keys(root, TOP_LEVEL_KEYS, '')
    if root.get('version', 1) != 1:
        raise r.fail('version', f'unsupported version {root.get("version")!r} (expected 1)')
    utc_offset = r.convert(root.get('utc_offset', 0), 'utc_offset', parse_utc_offset)
    shifts = parse_shifts(r, root.get('shifts'))
    escalation = parse_escalation(r, root, shifts, utc_offset)
    incidents = _parse_incident_settings(r, root.get('incidents'))
    ctx = ParseContext(r, shifts, utc_offset, escalation)
    rules = []
    names: set[str] = set()
    for i, raw in enumerate(r.seq(root.get('rules'), 'rules')):
        rule = _parse_rule(ctx, raw, f'rules[{i}]')
        if rule.name in names:
            raise r.fail(f'rules[{i}].name', f'duplicate rule name {rule.name!r}')
        names.add(rule.name)
        rules.append(rule)
    return Workflows(tuple(rules), shifts, utc_offset, escalation, incidents, file)


def load_workflows(path: str | pathlib.Path) -> Workflows:
    """Load and validate ``workflows.yaml``.

    Raises ConfigError naming the file and the key (``rules[2].trigger.window``) for YAML
    syntax errors (with the line), wrong types, unknown triggers/conditions/actions, bad
    windows or counts, unknown severities and references to undefined channels, users,
    schedules, shifts or policies.
    """
    return parse_workflows(read_yaml(path), str(path))
