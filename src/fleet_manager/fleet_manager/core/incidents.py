"""Incidents: lifecycle (triggered -> acknowledged -> resolved), correlation and recurrence.

The :class:`IncidentBook` is plain and in memory. It turns the rule engine's
``OpenIncidentAction`` into incidents: a repeat of an open incident with the same dedup key
within the dedup window updates it (count, last_seen, timeline) instead of opening another,
so a flood of duplicate events pages a person once. When an incident opens, the book looks
back over resolved incidents of the same type in the same area (or on the same robot) and
records how often this has happened (``'3rd time this week in aisle_b'``), which is often
the first thing an operator needs to know.

Time comes from an injected clock and ids from an injected generator; the caller persists
incidents with :meth:`Incident.to_dict` and restores them with :meth:`IncidentBook.restore`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
import itertools
from typing import Any, Callable, Iterable, Mapping

from fleet_manager.core.errors import IncidentNotFound, InvalidTransition
from fleet_manager.core.incident_model import FleetFact, OpenIncidentAction, Severity
from fleet_manager.core.model import Pose
from fleet_manager.core.runbooks import Runbook

WEEK_S = 7 * 86400.0
DEDUP_FIELDS = ('robot', 'area', 'type')


class IncidentState(str, enum.Enum):
    """Where an incident is in its lifecycle; the value is the JSON label."""

    TRIGGERED = 'triggered'
    """Open and nobody has taken it: escalation runs until someone acknowledges."""
    ACKNOWLEDGED = 'acknowledged'
    """A person has taken it: escalation stops (unless the policy's ack_timeout expires)."""
    RESOLVED = 'resolved'
    """Closed; kept on record and counted for recurrence. Final: it is never reopened."""


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an incident's history; ``who`` is a person, a rule or 'system'."""

    time: float
    kind: str
    who: str = ''
    note: str = ''
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {'time': self.time, 'kind': self.kind, 'who': self.who, 'note': self.note,
                'data': dict(self.data)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'TimelineEntry':
        """Rebuild an entry written by :meth:`to_dict`."""
        return cls(float(data['time']), str(data['kind']), str(data.get('who', '')),
                   str(data.get('note', '')), dict(data.get('data') or {}))


@dataclass
class EscalationState:
    """Where an incident's escalation is; written by the Escalator only.

    ``level`` is 1-based, 0 until the first notification; ``repeat`` counts completed
    passes over all levels (0 on the first pass); ``next_at`` is when the next step is due,
    None when nothing is scheduled; ``exhausted`` is True after the last repeat.
    """

    policy: str = ''
    level: int = 0
    repeat: int = 0
    next_at: float | None = None
    exhausted: bool = False
    last_notified_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {'policy': self.policy, 'level': self.level, 'repeat': self.repeat,
                'next_at': self.next_at, 'exhausted': self.exhausted,
                'last_notified_at': self.last_notified_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> 'EscalationState':
        """Rebuild the state written by :meth:`to_dict` (None gives a fresh state)."""
        data = data or {}
        return cls(str(data.get('policy', '')), int(data.get('level', 0)),
                   int(data.get('repeat', 0)), _opt_float(data.get('next_at')),
                   bool(data.get('exhausted', False)),
                   _opt_float(data.get('last_notified_at')))


@dataclass
class Incident:
    """One incident. Mutated only through the methods below, the book and the Escalator.

    Times are seconds since the epoch; ``pose`` is where the robot was when it opened;
    ``count`` is how many facts were correlated into it (1 when just opened).
    """

    id: str
    type: str
    severity: Severity
    robot_id: str
    opened_at: float
    last_seen: float
    mission_id: str | None = None
    area: str | None = None
    pose: Pose | None = None
    count: int = 1
    state: IncidentState = IncidentState.TRIGGERED
    title: str = ''
    rule: str = ''
    timeline: list[TimelineEntry] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    runbook: dict[str, Any] | None = None
    recurrence: dict[str, Any] = field(default_factory=dict)
    escalation: EscalationState = field(default_factory=EscalationState)
    dedup_key: tuple[str, ...] = ()
    acknowledged_at: float | None = None
    acknowledged_by: str = ''
    resolved_at: float | None = None
    resolved_by: str = ''
    suppressed_repeats: int = 0
    """Repeats not written to the timeline (it keeps the first few; see IncidentSettings)."""

    @property
    def is_open(self) -> bool:
        """Return True while the incident is not resolved."""
        return self.state != IncidentState.RESOLVED

    def add_entry(self, time: float, kind: str, who: str = '', note: str = '',
                  data: Mapping[str, Any] | None = None) -> TimelineEntry:
        """Append a timeline entry (a notification sent, a command issued, a note)."""
        entry = TimelineEntry(time, kind, who, note, dict(data or {}))
        self.timeline.append(entry)
        return entry

    def acknowledge(self, now: float, who: str, note: str = '') -> None:
        """TRIGGERED -> ACKNOWLEDGED; stops escalation. InvalidTransition from other states."""
        if self.state != IncidentState.TRIGGERED:
            raise InvalidTransition(self.id, self.state.value, 'acknowledge')
        self.state = IncidentState.ACKNOWLEDGED
        self.acknowledged_at = now
        self.acknowledged_by = who
        self.escalation.next_at = None
        self.add_entry(now, 'acknowledged', who, note)

    def resolve(self, now: float, who: str, note: str = '') -> None:
        """TRIGGERED/ACKNOWLEDGED -> RESOLVED; final. InvalidTransition when already resolved."""
        if self.state == IncidentState.RESOLVED:
            raise InvalidTransition(self.id, self.state.value, 'resolve')
        self.state = IncidentState.RESOLVED
        self.resolved_at = now
        self.resolved_by = who
        self.escalation.next_at = None
        self.add_entry(now, 'resolved', who, note)

    def retrigger(self, now: float, who: str, note: str = '') -> None:
        """ACKNOWLEDGED -> TRIGGERED (the acknowledgement timed out); InvalidTransition else."""
        if self.state != IncidentState.ACKNOWLEDGED:
            raise InvalidTransition(self.id, self.state.value, 'retrigger')
        self.state = IncidentState.TRIGGERED
        self.acknowledged_at = None
        self.add_entry(now, 'retriggered', who, note)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (the store's and the API's shape)."""
        pose = None if self.pose is None else {
            'x': self.pose.x, 'y': self.pose.y, 'theta': self.pose.theta,
            'frame_id': self.pose.frame_id}
        return {
            'id': self.id, 'type': self.type, 'severity': self.severity.value,
            'robot_id': self.robot_id, 'mission_id': self.mission_id, 'area': self.area,
            'pose': pose, 'opened_at': self.opened_at, 'last_seen': self.last_seen,
            'count': self.count, 'state': self.state.value, 'title': self.title,
            'rule': self.rule, 'timeline': [e.to_dict() for e in self.timeline],
            'context': dict(self.context), 'runbook': self.runbook,
            'recurrence': dict(self.recurrence), 'escalation': self.escalation.to_dict(),
            'dedup_key': list(self.dedup_key), 'acknowledged_at': self.acknowledged_at,
            'acknowledged_by': self.acknowledged_by, 'resolved_at': self.resolved_at,
            'resolved_by': self.resolved_by, 'suppressed_repeats': self.suppressed_repeats,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'Incident':
        """Rebuild an incident written by :meth:`to_dict`; KeyError/ValueError if malformed."""
        raw_pose = data.get('pose')
        pose = None if not raw_pose else Pose(
            float(raw_pose.get('x', 0.0)), float(raw_pose.get('y', 0.0)),
            float(raw_pose.get('theta', 0.0)), str(raw_pose.get('frame_id', 'map')))
        return cls(
            id=str(data['id']), type=str(data['type']),
            severity=Severity.parse(str(data['severity'])), robot_id=str(data['robot_id']),
            opened_at=float(data['opened_at']),
            last_seen=float(data.get('last_seen', data['opened_at'])),
            mission_id=data.get('mission_id'), area=data.get('area'), pose=pose,
            count=int(data.get('count', 1)),
            state=IncidentState(data.get('state', IncidentState.TRIGGERED.value)),
            title=str(data.get('title', '')), rule=str(data.get('rule', '')),
            timeline=[TimelineEntry.from_dict(e) for e in data.get('timeline') or ()],
            context=dict(data.get('context') or {}), runbook=data.get('runbook'),
            recurrence=dict(data.get('recurrence') or {}),
            escalation=EscalationState.from_dict(data.get('escalation')),
            dedup_key=tuple(str(k) for k in data.get('dedup_key') or ()),
            acknowledged_at=_opt_float(data.get('acknowledged_at')),
            acknowledged_by=str(data.get('acknowledged_by', '')),
            resolved_at=_opt_float(data.get('resolved_at')),
            resolved_by=str(data.get('resolved_by', '')),
            suppressed_repeats=int(data.get('suppressed_repeats', 0)),
        )


@dataclass(frozen=True)
class IncidentSettings:
    """How the book correlates and describes incidents (``incidents:`` in workflows.yaml).

    ``dedup_key`` is a non-empty subset of robot/area/type; a fact whose key matches an open
    incident seen within ``dedup_window`` s is a repeat. ``recurrence_lookback`` (s) bounds
    which resolved incidents count as earlier occurrences, matched by type and by
    ``recurrence_by`` ('area', falling back to the robot when there is no area, or 'robot').
    ``timeline_repeats`` bounds the repeat entries kept per incident, so a flood cannot
    grow one incident without limit; later repeats only update count and last_seen.
    """

    dedup_key: tuple[str, ...] = ('robot', 'type')
    dedup_window: float = 3600.0
    recurrence_lookback: float = WEEK_S
    recurrence_by: str = 'area'
    timeline_repeats: int = 20

    def __post_init__(self) -> None:
        if not self.dedup_key or any(k not in DEDUP_FIELDS for k in self.dedup_key):
            raise ValueError(f'dedup_key must be a non-empty subset of {DEDUP_FIELDS}')
        if self.recurrence_by not in ('area', 'robot'):
            raise ValueError("recurrence_by must be 'area' or 'robot'")
        if self.dedup_window <= 0 or self.recurrence_lookback <= 0:
            raise ValueError('dedup_window and recurrence_lookback must be positive')
        if self.timeline_repeats < 0:
            raise ValueError('timeline_repeats must not be negative')


def sequential_ids(prefix: str = 'INC-', start: int = 1) -> Callable[[], str]:
    """Return a generator of ids ``INC-000001``, ``INC-000002``, ...; pass ``start`` past
    the highest restored id after a restart so ids are never reused."""
    counter = itertools.count(start)
    return lambda: f'{prefix}{next(counter):06d}'


def ordinal(n: int) -> str:
    """Return 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 22nd, 101st, 111th, ..."""
    if 10 <= n % 100 <= 20:
        suffix = 'th'
    else:
        suffix = {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')
    return f'{n}{suffix}'


def describe_period(seconds: float) -> str:
    """Return 'this week' for 7 days, 'in the last 24 h', 'in the last 3 days', ..."""
    if seconds == WEEK_S:
        return 'this week'
    if seconds % 86400 == 0:
        days = int(seconds // 86400)
        return 'in the last 24 h' if days == 1 else f'in the last {days} days'
    if seconds % 3600 == 0:
        return f'in the last {int(seconds // 3600)} h'
    return f'in the last {seconds:g} s'


class IncidentBook:
    """The in-memory set of incidents, with correlation, recurrence and transitions.

    Not thread-safe: the node calls it from one executor thread.
    """

    def __init__(self, settings: IncidentSettings | None = None, *,
                 clock: Callable[[], float], ids: Callable[[], str] | None = None,
                 runbooks: Mapping[str, Runbook] | None = None) -> None:
        self.settings = settings or IncidentSettings()
        self._clock = clock
        self._ids = ids or sequential_ids()
        self._runbooks = dict(runbooks or {})
        self._incidents: dict[str, Incident] = {}
        # dedup key -> id of the open incident holding it; O(1) per fact during a flood.
        self._open_by_key: dict[tuple[str, ...], str] = {}
        self._by_scope: dict[tuple[str, str, str], list[str]] = {}

    # -- reading ---------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident:
        """Return the incident; raise IncidentNotFound for an unknown id."""
        try:
            return self._incidents[incident_id]
        except KeyError:
            raise IncidentNotFound(incident_id) from None

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._incidents

    def __len__(self) -> int:
        return len(self._incidents)

    def incidents(self, state: IncidentState | None = None) -> list[Incident]:
        """Return the incidents (of ``state`` when given), oldest first."""
        out = [i for i in self._incidents.values() if state is None or i.state == state]
        return sorted(out, key=lambda i: (i.opened_at, i.id))

    def open_incidents(self, robot_id: str | None = None,
                       incident_type: str | None = None) -> list[Incident]:
        """Return the unresolved incidents, optionally of one robot and/or type."""
        return [i for i in self.incidents() if i.is_open
                and (robot_id is None or i.robot_id == robot_id)
                and (incident_type is None or i.type == incident_type)]

    # -- correlation -----------------------------------------------------------------------
    def key_for(self, incident_type: str, robot_id: str, area: str | None) -> tuple[str, ...]:
        """Return the dedup key: the configured fields, in DEDUP_FIELDS order."""
        values = {'robot': robot_id, 'area': area or '', 'type': incident_type}
        return tuple(f'{k}={values[k]}' for k in DEDUP_FIELDS if k in self.settings.dedup_key)

    def observe(self, action: OpenIncidentAction, fact: FleetFact,
                context: Mapping[str, Any] | None = None) -> tuple[Incident, bool]:
        """Open an incident for ``action``, or fold the fact into the matching open one.

        Returns ``(incident, created)``. A repeat (same dedup key, open, last seen within
        the dedup window) increments ``count``, moves ``last_seen``, raises the severity if
        the new action is more severe and appends a 'repeat' timeline entry (up to
        ``timeline_repeats``). A new incident gets the runbook of its type, the
        ``context`` given and its recurrence among resolved incidents.
        """
        now = self._clock()
        area = fact.area
        key = self.key_for(action.type, action.robot_id, area)
        existing_id = self._open_by_key.get(key)
        if existing_id is not None:
            inc = self._incidents[existing_id]
            if inc.is_open and now - inc.last_seen <= self.settings.dedup_window:
                self._repeat(inc, action, fact, now)
                return inc, False
        inc = self._open(action, fact, context, key, now)
        return inc, True

    def _repeat(self, inc: Incident, action: OpenIncidentAction, fact: FleetFact,
                now: float) -> None:
        inc.count += 1
        inc.last_seen = now
        if action.severity.rank < inc.severity.rank:
            old = inc.severity
            inc.severity = action.severity
            inc.add_entry(now, 'severity_raised', action.rule,
                          f'{old.value} -> {action.severity.value}: {action.reason}')
        repeats = inc.count - 1
        if repeats <= self.settings.timeline_repeats:
            inc.add_entry(now, 'repeat', action.rule, action.reason,
                          {'fact': fact.kind, 'fact_time': fact.time, 'count': inc.count,
                           'data': dict(fact.data)})
        else:
            if inc.suppressed_repeats == 0:
                inc.add_entry(now, 'repeats_suppressed', 'system',
                              f'more than {self.settings.timeline_repeats} repeats; '
                              'further repeats only update count and last_seen')
            inc.suppressed_repeats += 1

    def _open(self, action: OpenIncidentAction, fact: FleetFact,
              context: Mapping[str, Any] | None, key: tuple[str, ...], now: float) -> Incident:
        book = self._runbooks.get(action.type)
        inc = Incident(
            id=self._ids(), type=action.type, severity=action.severity,
            robot_id=action.robot_id, opened_at=now, last_seen=now,
            mission_id=fact.mission_id, area=fact.area, pose=fact.pose,
            title=action.title or f'{action.type} on {action.robot_id}', rule=action.rule,
            context=dict(context or {}), runbook=book.to_dict() if book else None,
            escalation=EscalationState(policy=action.policy,
                                       next_at=now if action.policy else None),
            dedup_key=key)
        if inc.id in self._incidents:
            raise ValueError(f'id generator returned a used id {inc.id!r}')
        inc.recurrence = self._recurrence(inc, now)
        inc.add_entry(now, 'opened', action.rule, action.reason,
                      {'fact': fact.kind, 'fact_time': fact.time, 'data': dict(fact.data),
                       'severity': action.severity.value})
        self._add(inc)
        self._open_by_key[key] = inc.id
        return inc

    def _add(self, inc: Incident) -> None:
        """Keep ``inc``, indexed by (type, robot) and (type, area) for recurrence counts: a
        scan of every incident for each new one would cost O(n^2) in a site-wide outage."""
        self._incidents[inc.id] = inc
        self._by_scope.setdefault((inc.type, 'robot', inc.robot_id), []).append(inc.id)
        if inc.area:
            self._by_scope.setdefault((inc.type, 'area', inc.area), []).append(inc.id)

    def _recurrence(self, inc: Incident, now: float) -> dict[str, Any]:
        lookback = self.settings.recurrence_lookback
        area = inc.area if self.settings.recurrence_by == 'area' else None
        by_area = bool(area)
        since = now - lookback
        scope = (inc.type, 'area', area) if area else (inc.type, 'robot', inc.robot_id)
        ids = self._by_scope.get(scope, [])
        candidates = [self._incidents[i] for i in ids if i in self._incidents]
        if len(candidates) != len(ids):
            self._by_scope[scope] = [p.id for p in candidates]  # drop pruned ones
        previous = [p for p in candidates
                    if p.state == IncidentState.RESOLVED and p.opened_at >= since]
        previous.sort(key=lambda p: (p.opened_at, p.id))
        count = len(previous) + 1
        where = f'in {inc.area}' if by_area else f'on {inc.robot_id}'
        return {
            'count': count, 'window_s': lookback, 'scope': 'area' if by_area else 'robot',
            'area': inc.area, 'robot_id': inc.robot_id,
            'previous': [p.id for p in previous[-10:]],
            'text': f'{ordinal(count)} time {describe_period(lookback)} {where}',
        }

    # -- transitions -----------------------------------------------------------------------
    def acknowledge(self, incident_id: str, who: str, note: str = '') -> Incident:
        """Acknowledge; IncidentNotFound, or InvalidTransition unless TRIGGERED."""
        inc = self.get(incident_id)
        inc.acknowledge(self._clock(), who, note)
        return inc

    def resolve(self, incident_id: str, who: str, note: str = '') -> Incident:
        """Resolve; IncidentNotFound, or InvalidTransition when already resolved.

        The dedup key is released, so the next matching fact opens a new incident.
        """
        inc = self.get(incident_id)
        inc.resolve(self._clock(), who, note)
        if self._open_by_key.get(inc.dedup_key) == inc.id:
            del self._open_by_key[inc.dedup_key]
        return inc

    def add_note(self, incident_id: str, who: str, note: str, kind: str = 'note',
                 data: Mapping[str, Any] | None = None) -> Incident:
        """Append a timeline entry (kind 'note', 'notified', 'command', ...) at clock time."""
        inc = self.get(incident_id)
        inc.add_entry(self._clock(), kind, who, note, data)
        return inc

    # -- persistence -----------------------------------------------------------------------
    def restore(self, incidents: Iterable[Incident]) -> None:
        """Load persisted incidents (after a restart), rebuilding the dedup index.

        When two open incidents share a key the most recently seen one takes the key.
        """
        for inc in sorted(incidents, key=lambda i: (i.last_seen, i.id)):
            self._add(inc)
            if inc.is_open:
                if not inc.dedup_key:
                    inc.dedup_key = self.key_for(inc.type, inc.robot_id, inc.area)
                self._open_by_key[inc.dedup_key] = inc.id

    def prune(self, now: float) -> list[str]:
        """Forget resolved incidents older than the recurrence lookback; return their ids.

        The caller keeps them in its store; the book only needs the lookback for recurrence.
        """
        horizon = now - self.settings.recurrence_lookback
        gone = [i.id for i in self._incidents.values()
                if i.state == IncidentState.RESOLVED and i.opened_at < horizon
                and (i.resolved_at or i.opened_at) < horizon]
        for incident_id in gone:
            del self._incidents[incident_id]
        return gone


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
