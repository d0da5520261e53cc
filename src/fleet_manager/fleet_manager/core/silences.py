"""Silences and maintenance windows: label matchers that mute notifications, after Alertmanager.

An alert (an incident, seen by its labels: ``rule``, ``type``, ``robot``, ``area``, ``site``,
``severity``, ``robot_type``) is *silenced* while a silence whose matchers all match its labels
is active. A silence mutes notifications only (webhooks, paging): the incident is still
recorded, and says which silences muted it.

A silence is active from ``starts_at`` to ``ends_at``. A maintenance window is a silence with
``repeat`` set (``daily`` or ``weekly``): it is active for ``ends_at - starts_at`` seconds
starting at ``starts_at`` and again every period after it, until ``until`` (if given). A
silence can be expired early; an expired silence is kept on record (who, when, why) and never
matches again.

Matchers follow Alertmanager's: ``label=value``, ``label!=value``, ``label=~regex``,
``label!~regex`` (regexes are anchored, as in Alertmanager). Plain Python; time is passed in.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
import enum
import re
from typing import Any, Callable, Iterable, Mapping

from fleet_manager.core.errors import Conflict, NotFound, ValidationError

LABELS = ('rule', 'type', 'robot', 'area', 'site', 'severity', 'robot_type')
"""The labels an alert carries and a matcher may name."""

REPEATS: dict[str, float] = {'daily': 86400.0, 'weekly': 7 * 86400.0}
MAX_TIME = 4e9
"""The latest time a silence may name (s since the epoch, the year 2096)."""
"""Maintenance-window periods by name, in seconds."""

_MATCHER_RE = re.compile(r'^\s*([a-z_]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


class MatchOp(str, enum.Enum):
    """How a matcher compares a label; the value is the operator as written."""

    EQ = '='
    """The label equals the value."""
    NE = '!='
    """The label differs from the value (a missing label is the empty string)."""
    RE = '=~'
    """The whole label matches the regular expression."""
    NRE = '!~'
    """The whole label does not match the regular expression."""


@dataclass(frozen=True)
class Matcher:
    """One condition on one label."""

    label: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValidationError('matchers', f'unknown label {self.label!r} '
                                  f"(known: {', '.join(LABELS)})")
        if self.op in (MatchOp.RE, MatchOp.NRE):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValidationError('matchers', f'bad regex {self.value!r}: {exc}') from None

    def matches(self, labels: Mapping[str, Any]) -> bool:
        """Return True when ``labels`` satisfy this matcher."""
        raw = labels.get(self.label)
        actual = '' if raw is None else str(raw)
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op is MatchOp.RE else not found

    def __str__(self) -> str:
        return f'{self.label}{self.op.value}{self.value}'

    def to_dict(self) -> dict[str, str]:
        """Return the JSON shape ``{label, op, value}``."""
        return {'label': self.label, 'op': self.op.value, 'value': self.value}

    @classmethod
    def parse(cls, spec: Any) -> 'Matcher':
        """Build a matcher from ``'label=value'`` (any op) or ``{label, op, value}``."""
        if isinstance(spec, str):
            found = _MATCHER_RE.match(spec)
            if found is None:
                raise ValidationError('matchers', f'cannot read matcher {spec!r} '
                                      "(write label=value, !=, =~ or !~)")
            return cls(found.group(1), MatchOp(found.group(2)), found.group(3))
        if isinstance(spec, Mapping):
            try:
                op = MatchOp(str(spec.get('op', '=')))
            except ValueError:
                raise ValidationError('matchers', f"bad op {spec.get('op')!r} "
                                      '(one of =, !=, =~, !~)') from None
            return cls(str(spec.get('label', '')), op, str(spec.get('value', '')))
        raise ValidationError('matchers', f'a matcher is a string or an object, not {spec!r}')


def parse_matchers(specs: Any) -> tuple[Matcher, ...]:
    """Parse a non-empty list of matchers; ValidationError naming ``matchers`` when bad."""
    if isinstance(specs, (str, Mapping)) or not isinstance(specs, Iterable):
        raise ValidationError('matchers', 'must be a non-empty list of matchers')
    matchers = tuple(Matcher.parse(s) for s in specs)
    if not matchers:
        raise ValidationError('matchers', 'must be a non-empty list of matchers')
    return matchers


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, Any]) -> bool:
    """Return True when every matcher matches ``labels``."""
    return all(m.matches(labels) for m in matchers)


class SilenceState(str, enum.Enum):
    """Where a silence is at a given time; the value is the JSON label."""

    PENDING = 'pending'
    """Not started yet (or, for a maintenance window, between two windows)."""
    ACTIVE = 'active'
    """Muting notifications of matching alerts now."""
    EXPIRED = 'expired'
    """Over (its end or ``until`` has passed) or expired early by a person; final."""


@dataclass
class Silence:
    """A silence or maintenance window, with who created it and why."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    repeat: str | None = None
    until: float | None = None
    expired_at: float | None = None
    expired_by: str = ''
    expired_note: str = ''
    muted: int = 0
    """How many notifications this silence has muted."""

    def state(self, now: float) -> SilenceState:
        """Return the state at ``now``."""
        if self.expired_at is not None and now >= self.expired_at:
            return SilenceState.EXPIRED
        if self.repeat is None:
            if now >= self.ends_at:
                return SilenceState.EXPIRED
            return SilenceState.ACTIVE if now >= self.starts_at else SilenceState.PENDING
        if self.until is not None and now >= self.until:
            return SilenceState.EXPIRED
        if now < self.starts_at:
            return SilenceState.PENDING
        into = (now - self.starts_at) % REPEATS[self.repeat]
        return SilenceState.ACTIVE if into < self.ends_at - self.starts_at else \
            SilenceState.PENDING

    def silences(self, labels: Mapping[str, Any], now: float) -> bool:
        """Return True when this silence is active at ``now`` and matches ``labels``."""
        return self.state(now) is SilenceState.ACTIVE and matches_all(self.matchers, labels)

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """Return the JSON shape (the store's and the API's); ``state`` when ``now`` is given."""
        out: dict[str, Any] = {
            'id': self.id, 'matchers': [m.to_dict() for m in self.matchers],
            'starts_at': self.starts_at, 'ends_at': self.ends_at,
            'created_by': self.created_by, 'comment': self.comment,
            'created_at': self.created_at, 'repeat': self.repeat, 'until': self.until,
            'expired_at': self.expired_at, 'expired_by': self.expired_by,
            'expired_note': self.expired_note, 'muted': self.muted,
        }
        if now is not None:
            out['state'] = self.state(now).value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'Silence':
        """Rebuild a silence written by :meth:`to_dict`."""
        return cls(
            id=str(data['id']), matchers=parse_matchers(data['matchers']),
            starts_at=float(data['starts_at']), ends_at=float(data['ends_at']),
            created_by=str(data.get('created_by', '')), comment=str(data.get('comment', '')),
            created_at=float(data.get('created_at', data['starts_at'])),
            repeat=data.get('repeat'), until=_opt(data.get('until')),
            expired_at=_opt(data.get('expired_at')), expired_by=str(data.get('expired_by', '')),
            expired_note=str(data.get('expired_note', '')), muted=int(data.get('muted', 0)))


@dataclass
class SilenceBook:
    """The silences the manager keeps; plain and in memory, persisted by the caller."""

    clock: Callable[[], float]
    new_id: Callable[[], str]
    _silences: dict[str, Silence] = field(default_factory=dict)

    def create(self, spec: Mapping[str, Any], who: str) -> Silence:
        """Validate ``spec`` and add a silence; ValidationError naming the bad field.

        ``spec``: ``matchers`` (required), ``comment`` (required: why), and either
        ``ends_at`` or ``duration`` (s); ``starts_at`` defaults to now; ``repeat``
        (daily/weekly) and ``until`` make it a maintenance window.
        """
        now = self.clock()
        if not who:
            raise ValidationError('created_by', 'a silence needs a person')
        comment = str(spec.get('comment') or '').strip()
        if not comment:
            raise ValidationError('comment', 'say why (it is audited)')
        starts_at = _num(spec, 'starts_at', now)
        if spec.get('ends_at') is not None:
            ends_at = _num(spec, 'ends_at', now)
        elif spec.get('duration') is not None:
            ends_at = starts_at + _num(spec, 'duration', 0.0)
        else:
            raise ValidationError('ends_at', 'give ends_at or duration')
        if ends_at <= starts_at:
            raise ValidationError('ends_at', 'must be after starts_at')
        if ends_at > MAX_TIME:
            raise ValidationError('duration' if spec.get('ends_at') is None else 'ends_at',
                                  f'ends after {MAX_TIME:.0f} (the year 2096)')
        repeat = spec.get('repeat')
        if repeat is not None and repeat not in REPEATS:
            raise ValidationError('repeat', f"one of {', '.join(REPEATS)}")
        if repeat is not None and ends_at - starts_at >= REPEATS[repeat]:
            raise ValidationError('ends_at', f'a {repeat} window must be shorter than its period')
        until = _num(spec, 'until', 0.0) if spec.get('until') is not None else None
        if until is not None and repeat is None:
            raise ValidationError('until', 'only a repeating window has until')
        silence = Silence(self.new_id(), parse_matchers(spec.get('matchers')), starts_at,
                          ends_at, who, comment, now, repeat, until)
        self._silences[silence.id] = silence
        return silence

    def expire(self, silence_id: str, who: str, note: str = '') -> Silence:
        """Expire a silence now; NotFound if unknown, Conflict if already expired."""
        silence = self.get(silence_id)
        now = self.clock()
        if silence.state(now) is SilenceState.EXPIRED:
            raise Conflict(f'silence {silence_id} has already expired')
        silence.expired_at, silence.expired_by, silence.expired_note = now, who, note
        return silence

    def get(self, silence_id: str) -> Silence:
        """Return a silence; NotFound if unknown."""
        try:
            return self._silences[silence_id]
        except KeyError:
            raise NotFound(f'no silence {silence_id!r}') from None

    def list(self, state: SilenceState | None = None) -> 'builtins.list[Silence]':
        """Return silences, newest first, optionally in one state (now)."""
        now = self.clock()
        out = [s for s in self._silences.values() if state is None or s.state(now) is state]
        return sorted(out, key=lambda s: s.created_at, reverse=True)

    def matching(self, labels: Mapping[str, Any]) -> 'builtins.list[Silence]':
        """Return the active silences that mute an alert with ``labels`` now."""
        now = self.clock()
        return [s for s in self._silences.values() if s.silences(labels, now)]

    def restore(self, silences: Iterable[Silence]) -> None:
        """Load silences read back from the store."""
        for silence in silences:
            self._silences[silence.id] = silence


def _num(spec: Mapping[str, Any], key: str, default: float) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(key, 'must be a number (seconds since the epoch, or seconds)')
    if not 0 <= value <= MAX_TIME:  # also refuses NaN
        raise ValidationError(key, f'must be a number from 0 to {MAX_TIME:.0f}')
    return float(value)


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)
