"""The glue between the manager's facts and the incident cores; plain Python, no rclpy.

:class:`IncidentFlow` owns the rule engine, the incident book and the escalator, and keeps
what an incident needs to be useful to the person who opens it
(:class:`~fleet_manager.incident_context.RobotContext`): per robot a bounded ring of the
last status samples (the trajectory), the last diagnostics event, the software version and
the recent events, plus the recent configuration changes of the site. The notifications it
hands to the node are formatted by :func:`deliver`.

The node calls it with what it already has and carries out what comes back::

    flow = IncidentFlow(workflows, runbooks, fleet, clock, ids)
    flow.restore(stored_incident_dicts)                 # once, before anything else
    res = flow.on_status(record, now)                   # every accepted RobotStatus
    res = flow.on_event(event, record, now)             # every event the manager logs
    res = flow.tick(now)                                # periodically (escalation)
    res = flow.acknowledge(incident_id, who, note, now) # operator actions (API)
    res = flow.resolve(incident_id, who, note, now)

Every call returns a :class:`FlowResult`: events to append to the event log, commands to
send to robots, incidents that changed (persist and publish them), notifications to
deliver and snapshot-bag requests. Each fact is evaluated at ``now`` (the manager's clock),
not at the robot's stamp.

Correlation beyond the book's dedup key: while an incident is open, a further fact of the
robot that the opening rule's ``event``/``count`` trigger would count (same kind, ``match``
and ``when`` conditions, within the dedup window, same dedup key) is folded into it even
when the trigger does not fire, so ``count`` is the number of facts behind the incident: 3
recoveries open a stuck incident with count 3, the 4th makes it 4. A ``count`` trigger per
robot opens its incident with the count it consumed.

Rule actions other than ``open_incident`` are not repeated by a flood: a ``command``,
``notify`` or ``escalate`` action tied to an incident (the incident the same rule opened or
updated in the same firing) runs once per incident; one without an incident runs at most
once per ``action_cooldown`` seconds per rule, robot and command/channel.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
import re
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from fleet_manager.core.config import FleetConfig
from fleet_manager.core.escalation import EscalationConfig, Escalator, Notification, NotifyReason
from fleet_manager.core.incident_model import (
    Action,
    Command,
    CommandAction,
    EscalateAction,
    FleetFact,
    NotifyAction,
    OpenIncidentAction,
    Telemetry,
)
from fleet_manager.core.incidents import Incident, IncidentBook, IncidentState
from fleet_manager.core.model import Event, NewEvent, RobotRecord
from fleet_manager.core.postmortem import Postmortem
from fleet_manager.core.rules import CountTrigger, EventTrigger, Rule, RuleEngine, Workflows
from fleet_manager.core.runbooks import Runbook
from fleet_manager.incident_context import RobotContext, pose_from_data
from fleet_manager.incident_ops import IncidentOps

__all__ = [
    'BagRequest', 'CommandRequest', 'FlowResult', 'IncidentFlow', 'command_args',
    'counts_toward', 'deliver', 'incident_summary', 'next_sequence', 'notification_address',
    'notification_message',
    'INCIDENT_ACKNOWLEDGED', 'INCIDENT_ESCALATED', 'INCIDENT_OPENED', 'INCIDENT_RESOLVED',
    'INCIDENT_UPDATED', 'NOTIFICATION_SENT', 'ROBOT_EVENT_KIND',
]

ROBOT_EVENT_KIND = 'robot.event'
"""The manager's event kind for a robot's RobotEvent (payload type/severity/message/data)."""
INCIDENT_OPENED = 'incident.opened'
INCIDENT_UPDATED = 'incident.updated'
INCIDENT_ACKNOWLEDGED = 'incident.acknowledged'
INCIDENT_RESOLVED = 'incident.resolved'
INCIDENT_ESCALATED = 'incident.escalated'
NOTIFICATION_SENT = 'notification.sent'
#: Kinds this module produces; fed back through on_event they are ignored (no loops).
OWN_KIND_PREFIXES = ('incident.', 'notification.')
DIAGNOSTICS_EVENT_TYPE = 'diagnostics_level'
_PRUNE_PERIOD = 600.0  # s between IncidentBook.prune calls from tick
_MISSING = object()


class CommandRequest(NamedTuple):
    """Send ``command`` with ``args`` to ``robot_id`` (the node's ``send_command``)."""

    robot_id: str
    command: str
    args: dict[str, Any]


@dataclass(frozen=True)
class BagRequest:
    """Write a snapshot bag for ``incident_id`` of ``robot_id`` covering [since, until] (s)."""

    incident_id: str
    robot_id: str
    since: float
    until: float


@dataclass
class FlowResult:
    """What one IncidentFlow call asks the node to do, in this order.

    ``events``: append to the event log (then publish them); ``incidents``: changed
    incidents, each once, to persist and publish; ``commands``: send to robots;
    ``notifications``: deliver (each is also in ``events`` as ``notification.sent``);
    ``bags``: write snapshot bags.
    """

    events: list[NewEvent] = field(default_factory=list)
    commands: list[CommandRequest] = field(default_factory=list)
    changed_incidents: dict[str, Incident] = field(default_factory=dict)
    bags: list[BagRequest] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    postmortem: Postmortem | None = None
    """A postmortem drafted by this call (a resolve), to save and announce."""

    @property
    def incidents(self) -> list[Incident]:
        """The changed incidents, each once, in first-change order."""
        return list(self.changed_incidents.values())

    def __bool__(self) -> bool:
        return bool(self.events or self.commands or self.changed_incidents or self.bags
                    or self.notifications or self.postmortem)

    def changed(self, incident: Incident) -> None:
        """Record that ``incident`` changed (kept once, in first-change order)."""
        self.changed_incidents.setdefault(incident.id, incident)

    def extend(self, other: 'FlowResult') -> 'FlowResult':
        """Append ``other``'s contents; return self."""
        self.events.extend(other.events)
        self.commands.extend(other.commands)
        for inc in other.changed_incidents.values():
            self.changed(inc)
        self.bags.extend(other.bags)
        self.notifications.extend(other.notifications)
        self.postmortem = other.postmortem or self.postmortem
        return self


def incident_summary(inc: Incident) -> dict[str, Any]:
    """Return the event-log payload of an incident: everything but context and timeline."""
    pose = None if inc.pose is None else {'x': inc.pose.x, 'y': inc.pose.y,
                                          'theta': inc.pose.theta,
                                          'frame_id': inc.pose.frame_id}
    out: dict[str, Any] = {
        'id': inc.id, 'type': inc.type, 'severity': inc.severity.value,
        'state': inc.state.value, 'title': inc.title, 'robot_id': inc.robot_id,
        'mission_id': inc.mission_id, 'area': inc.area, 'pose': pose,
        'opened_at': inc.opened_at, 'last_seen': inc.last_seen, 'count': inc.count,
        'rule': inc.rule, 'recurrence': inc.recurrence.get('text', ''),
        'escalation_level': inc.escalation.level, 'policy': inc.escalation.policy,
        'acknowledged_by': inc.acknowledged_by, 'resolved_by': inc.resolved_by,
        'runbook': (inc.runbook or {}).get('title', ''),
    }
    robots = inc.context.get('robots') or []
    if len(robots) > 1:  # a grouped incident lists its robots
        out['robots'] = list(robots)
    if inc.context.get('silenced_by'):  # the bridge sends no webhook for a silenced one
        out['silenced_by'] = list(inc.context['silenced_by'])
    return out


def next_sequence(dicts: Iterable[Mapping[str, Any]], prefix: str = 'INC-') -> int:
    """Return the first free number for ``sequential_ids(prefix, start)`` after the
    stored incidents ``dicts`` (1 when none use the prefix)."""
    pattern = re.compile(rf'^{re.escape(prefix)}(\d+)$')
    highest = 0
    for d in dicts:
        m = pattern.match(str(d.get('id', '')))
        if m:
            highest = max(highest, int(m.group(1)))
    return highest + 1


def notification_address(config: EscalationConfig, target: str) -> str:
    """Return the address of a notification target: a user's, else a channel's, else ''."""
    if target in config.users:
        return config.users[target].address
    channel = config.channels.get(target)
    return channel.address if channel else ''


def notification_message(inc: Incident) -> str:
    """Return the one-line text of a page about ``inc``."""
    where = f' in {inc.area}' if inc.area else ''
    recur = inc.recurrence.get('text', '')
    recur = f' ({recur})' if recur and inc.recurrence.get('count', 1) > 1 else ''
    return (f'{inc.severity.value} {inc.title}: {inc.robot_id}{where}{recur} '
            f'[{inc.id}, x{inc.count}]')


def deliver(book: IncidentBook, config: EscalationConfig,
            notifications: Iterable[Notification], res: FlowResult) -> None:
    """Record each notification attempt (timeline, ``notification.sent``) and hand it to
    the node in ``res``; an escalation (not the opening page) is logged once per incident."""
    escalated: set[str] = set()
    for n in notifications:
        inc = book.get(n.incident_id)
        if n.reason != NotifyReason.OPENED and inc.id not in escalated:
            escalated.add(inc.id)
            _incident_event(res, INCIDENT_ESCALATED, inc, {
                'level': n.level, 'repeat': n.repeat, 'reason': n.reason.value,
                'policy': n.policy})
        note = n.to_dict()
        channel = config.channels.get(n.channel)
        note.update({'channel_type': channel.type if channel else '',
                     'address': notification_address(config, n.target),
                     'message': notification_message(inc),
                     'robot_id': inc.robot_id, 'rule': inc.rule})
        book.add_note(inc.id, 'escalation',
                      f'notified {n.target} via {n.channel} (level {n.level}, '
                      f'{n.reason.value})', kind='notified', data=n.to_dict())
        res.events.append(NewEvent(NOTIFICATION_SENT, inc.robot_id, note,
                                   inc.mission_id or ''))
        res.notifications.append(note)
        res.changed(inc)


def _incident_event(res: FlowResult, kind: str, inc: Incident,
                    extra: Mapping[str, Any]) -> None:
    """Add a ``kind`` event about ``inc`` (its summary plus ``extra``) to ``res``."""
    payload = incident_summary(inc)
    payload.update(extra)
    res.events.append(NewEvent(kind, inc.robot_id, payload, inc.mission_id or ''))
    res.changed(inc)


def counts_toward(rule: Rule, fact: FleetFact) -> bool:
    """True if ``rule``'s event/count trigger would count ``fact`` (kind, ``match`` and the
    rule's conditions), whether or not it fires."""
    trigger = rule.trigger
    if not isinstance(trigger, (CountTrigger, EventTrigger)):
        return False
    if fact.kind not in trigger.kinds or not rule.applies_to(fact):
        return False
    for name, expected in trigger.match.items():
        actual = fact.data.get(name, _MISSING)
        if actual is _MISSING or (actual not in expected if isinstance(expected, list)
                                  else actual != expected):
            return False
    return True


def command_args(action: CommandAction, record: RobotRecord | None,
                 fleet: FleetConfig) -> tuple[dict[str, Any], str]:
    """Return the arguments of a rule's command to its robot (``record`` is the robot's
    last registry record) and why it is skipped ('' to send it): ``cancel_mission`` gets
    the current mission, ``return_to_dock`` the robot's dock and its pose."""
    robot = action.robot_id
    args = dict(action.args)
    args.setdefault('reason', f'{action.rule}: {action.reason}')
    skipped = ''
    if action.command == Command.CANCEL_MISSION:
        mission = str(args.get('mission_id') or (record.current_mission_id if record
                                                 else '') or action.fact.mission_id or '')
        if mission:
            args['mission_id'] = mission
    elif action.command == Command.RETURN_TO_DOCK:
        dock = str(args.get('dock') or (record.dock if record else '')
                   or fleet.spec_for(robot).dock)
        pose = fleet.docks.get(dock)
        if pose is None:
            skipped = f'no dock configured for {robot}' if not dock else \
                f'unknown dock {dock!r}'
        else:
            args.update({'dock': dock, 'x': pose.x, 'y': pose.y, 'theta': pose.theta})
    return args, skipped


TIMELINE_COMMANDS = ('pause', 'resume', 'return_to_dock', 'cancel_mission')
"""Robot commands that go on the timeline of the robot's open incidents."""


RULE_WHO = 'rule'
"""``who`` of the commands the workflow rules send (see the incidents feature)."""


def command_timeline_entry(event: NewEvent | Event
                           ) -> tuple[str, str, str, dict[str, Any]] | None:
    """Return the timeline entry (kind, who, text, data) that ``event`` makes on its robot's
    open incidents, or None: a ``robot.command`` someone other than a rule sent (a rule's
    own command is already on the timeline), and the robot's confirmation that it carried
    out or refused a command (a ``robot.event`` of type ``command``/``command_refused``)."""
    payload = event.payload or {}
    if event.kind == 'robot.command':
        command, who = str(payload.get('command', '')), str(payload.get('who') or 'unknown')
        if command not in TIMELINE_COMMANDS or who == RULE_WHO:
            return None
        reason = str(payload.get('reason') or '')
        return ('command', who, f'{who} sent {command}' + (f': {reason}' if reason else ''),
                {'command': command, 'command_id': payload.get('command_id')})
    if event.kind != ROBOT_EVENT_KIND or payload.get('type') not in ('command',
                                                                     'command_refused'):
        return None
    raw = payload.get('data')
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    command = str(data.get('command', ''))
    if command not in TIMELINE_COMMANDS:
        return None
    refused = payload.get('type') == 'command_refused'
    text = (f'robot refused {command}: {data.get("reason", "")}' if refused
            else f'robot carried out {command}')
    return ('robot_refused' if refused else 'robot', event.robot_id, text,
            {'command': command, 'command_id': data.get('command_id')})


class IncidentFlow:
    """Rule engine + incident book + escalator, fed with the manager's facts.

    ``workflows`` is a validated workflows.yaml, ``runbooks`` the runbooks by incident type,
    ``fleet`` the fleet definition (areas, docks, site), ``clock`` returns epoch seconds
    (used when a method's ``now`` is None) and ``ids`` returns fresh incident ids; it must
    not repeat ids across restarts, e.g. ``sequential_ids(start=next_sequence(stored))``
    (ids still held by the book are skipped as a safeguard).

    ``history`` status samples, ``recent_events`` events per robot and ``config_changes``
    configuration changes are kept for incident context; a snapshot bag covers the
    ``bag_seconds`` before an incident opened. Not thread-safe: call it from one thread
    (under the node's lock).
    """

    def __init__(self, workflows: Workflows, runbooks: Mapping[str, Runbook],
                 fleet: FleetConfig, clock: Callable[[], float], ids: Callable[[], str], *,
                 history: int = 60, recent_events: int = 20, config_changes: int = 20,
                 bag_seconds: float = 60.0, action_cooldown: float = 60.0,
                 update_event_every: int = 100) -> None:
        if update_event_every < 1:
            raise ValueError('update_event_every must be at least 1')
        self.workflows = workflows
        self.fleet = fleet
        self.context = RobotContext(fleet, history=history, recent_events=recent_events,
                                    config_changes=config_changes)
        """Per-robot memory and configuration changes for incident context."""
        self.bag_seconds = float(bag_seconds)
        self.action_cooldown = float(action_cooldown)
        self.update_event_every = update_event_every
        self._clock = clock
        self._ids = ids
        self._now = float(clock())
        self.engine = RuleEngine(workflows)
        self.book = IncidentBook(workflows.incidents, clock=lambda: self._now,
                                 ids=self._fresh_id, runbooks=runbooks)
        self.escalator = Escalator(workflows.escalation)
        self._rules: dict[str, Rule] = {r.name: r for r in workflows.rules}
        self._open_by_robot: dict[str, set[str]] = {}
        self._incident_actions: dict[str, set[tuple[str, ...]]] = {}
        self._cooldowns: dict[tuple[str, ...], float] = {}
        self._last_prune = self._now
        self.ops: IncidentOps | None = None
        """Grouping, inhibition, silences and postmortems (None: none of them)."""

    # -- inputs ----------------------------------------------------------------------------
    def on_event(self, event: NewEvent | Event, record: RobotRecord | None = None,
                 now: float | None = None) -> FlowResult:
        """Evaluate one logged event: ``robot.event`` (payload type, severity, message,
        data, seq), ``robot.connectivity``, ``mission.state`` or any other robot event.

        ``record`` is the robot's registry record (None if unknown): it gives the pose,
        area, group and current mission. Events without a robot and the kinds this class
        produces (``incident.*``, ``notification.*``) are ignored.
        """
        now = self._begin(now)
        kind, robot = event.kind, event.robot_id
        if not robot or kind.startswith(OWN_KIND_PREFIXES):
            return FlowResult()
        noted = FlowResult()
        entry = command_timeline_entry(event)
        if entry is not None:
            self._on_timeline(robot, entry, noted)
        mem = self.context.remember(robot, record)
        record = record or mem.record
        payload = dict(event.payload or {})
        if kind == ROBOT_EVENT_KIND:
            fact_kind = str(payload.get('type', ''))
            raw = payload.get('data')
            data = dict(raw) if isinstance(raw, Mapping) else {}
            severity = int(payload.get('severity', 0) or 0)
            message = str(payload.get('message', ''))
            if fact_kind == DIAGNOSTICS_EVENT_TYPE:
                mem.diagnostics = {'time': now, 'message': message, 'severity': severity,
                                   **data}
        else:
            fact_kind, data, severity = kind, payload, 0
            message = str(payload.get('reason', ''))
        if not fact_kind:
            return noted
        mission_id = (event.mission_id or str(data.get('mission_id') or '')
                      or (record.current_mission_id if record else ''))
        self.context.add_event(mem, now, fact_kind, severity, message, data)
        pose = record.pose if record is not None and record.pose.is_finite() \
            else pose_from_data(data)
        fact = FleetFact(kind=fact_kind, robot_id=robot, time=now, data=data,
                         area=self.context.area(pose),
                         group=self.context.group(robot, record),
                         site=self.fleet.site, mission_id=mission_id or None, pose=pose,
                         severity=severity, message=message)
        noted.extend(self._perform(self.engine.on_fact(fact), now, fact))
        return noted

    def on_status(self, record: RobotRecord, now: float | None = None) -> FlowResult:
        """Evaluate a robot's telemetry (an accepted status: battery thresholds, offline)
        and add a sample (time, x, y, theta, battery, mode) to its trajectory ring."""
        now = self._begin(now)
        mem = self.context.remember(record.robot_id, record)
        finite = record.pose.is_finite()
        if finite:
            self.context.add_sample(mem, record, now)
        area = self.context.area(record.pose if finite else None)
        # The rules see only what telemetry fields say (and the time of day, through shift
        # and hours conditions): an unchanged robot in the same minute cannot make them
        # fire, so it is not evaluated again. This keeps a large fleet's statuses cheap.
        battery = record.battery
        key = (None if battery is None else round(battery, 4), record.mode,
               record.current_mission_id, record.connectivity, record.diagnostics_level,
               area, int(now // 60))
        if mem.evaluated == key:
            return FlowResult()
        mem.evaluated = key
        telemetry = Telemetry.from_record(record, time=now, area=area, site=self.fleet.site)
        return self._perform(self.engine.on_telemetry(telemetry), now, None)

    def tick(self, now: float | None = None) -> FlowResult:
        """Advance escalation of the open incidents to ``now``; prune old resolved ones."""
        now = self._begin(now)
        res = FlowResult()
        incidents = sorted((self.book.get(i) for ids in self._open_by_robot.values()
                            for i in ids), key=lambda i: (i.opened_at, i.id))
        before = {i.id: (i.state, i.escalation.to_dict()) for i in incidents}
        self._deliver(self.escalator.tick(now, incidents), res)
        for inc in incidents:
            if before[inc.id] != (inc.state, inc.escalation.to_dict()):
                res.changed(inc)
        self._cooldowns = {k: t for k, t in self._cooldowns.items()
                           if now - t < self.action_cooldown}
        if now - self._last_prune >= _PRUNE_PERIOD:
            self._last_prune = now
            self.book.prune(now)
        return res

    def record_config_change(self, change: Mapping[str, Any],
                             now: float | None = None) -> None:
        """Remember a configuration change (e.g. ``{'what': 'workflows', 'by': 'alice'}``)
        for the context of incidents opened later; the oldest beyond the bound drop out."""
        self.context.record_config_change(change, self._begin(now))

    # -- operator actions ------------------------------------------------------------------
    def acknowledge(self, incident_id: str, who: str, note: str = '',
                    now: float | None = None) -> FlowResult:
        """Acknowledge (stops escalation). Raises IncidentNotFound, or InvalidTransition
        unless the incident is triggered."""
        self._begin(now)
        inc = self.book.acknowledge(incident_id, who, note)
        res = FlowResult()
        _incident_event(res, INCIDENT_ACKNOWLEDGED, inc, {'who': who, 'note': note})
        return res

    def resolve(self, incident_id: str, who: str, note: str = '',
                now: float | None = None) -> FlowResult:
        """Resolve with ``note`` on the timeline. Raises IncidentNotFound, or
        InvalidTransition when already resolved. The next matching fact opens a new
        incident, whose recurrence counts this one."""
        self._begin(now)
        inc = self.book.resolve(incident_id, who, note)
        self._unindex(inc)
        res = FlowResult()
        if self.ops is not None:
            res.postmortem = self.ops.resolved(inc)
        _incident_event(res, INCIDENT_RESOLVED, inc, {'who': who, 'note': note})
        return res

    # -- reading and persistence -----------------------------------------------------------
    def get(self, incident_id: str) -> Incident:
        """Return the incident; IncidentNotFound for an unknown (or pruned) id."""
        return self.book.get(incident_id)

    def to_dicts(self) -> builtins.list[dict[str, Any]]:
        """Return every incident the flow holds as JSON-serialisable dicts, oldest first."""
        return [inc.to_dict() for inc in self.book.incidents()]

    def restore(self, dicts: Iterable[Mapping[str, Any]]) -> int:
        """Load incidents written by :meth:`to_dicts` / ``Incident.to_dict`` (call once,
        before any event); returns how many. KeyError/ValueError for malformed ones."""
        incidents = [Incident.from_dict(d) for d in dicts]
        self.book.restore(incidents)
        for inc in incidents:
            if inc.is_open:
                self._open_by_robot.setdefault(inc.robot_id, set()).add(inc.id)
        return len(incidents)

    next_sequence = staticmethod(next_sequence)

    # -- internals: facts to actions -------------------------------------------------------
    def _begin(self, now: float | None) -> float:
        self._now = float(self._clock() if now is None else now)
        return self._now

    def _fresh_id(self) -> str:
        for _ in range(1_000_000):
            candidate = self._ids()
            if candidate not in self.book:
                return candidate
        raise RuntimeError('the incident id generator keeps returning used ids')

    def _perform(self, actions: Iterable[Action], now: float,
                 fact: FleetFact | None) -> FlowResult:
        """Carry out a firing's actions in order; then fold ``fact`` into open incidents
        it belongs to that no action of this firing already counted it for."""
        res = FlowResult()
        by_rule: dict[str, str] = {}
        counted: set[str] = set()
        for action in actions:
            if isinstance(action, OpenIncidentAction):
                inc = self._observe(action, res, now)
                by_rule[action.rule] = inc.id
                counted.add(inc.id)
            elif isinstance(action, CommandAction):
                self._command(action, by_rule.get(action.rule), res, now)
            elif isinstance(action, NotifyAction):
                self._notify_action(action, by_rule.get(action.rule), res, now)
            elif isinstance(action, EscalateAction):
                self._escalate_action(action, by_rule.get(action.rule), res, now)
        if fact is not None:
            self._fold(fact, counted, res, now)
        return res

    def _facts_behind(self, action: OpenIncidentAction) -> int:
        """How many facts a new incident stands for: a per-robot count trigger's count."""
        rule = self._rules.get(action.rule)
        trigger = rule.trigger if rule is not None else None
        if isinstance(trigger, CountTrigger) and 'robot' in trigger.per \
                and action.fact.kind in trigger.kinds:
            return trigger.count
        return 1

    def _observe(self, action: OpenIncidentAction, res: FlowResult, now: float) -> Incident:
        if self.ops is not None:  # inhibited or grouped: recorded, opens nothing
            held = self.ops.hold(action, self.book, self._open_ids(), now)
            if held is not None:
                self._updated(held.incident, res, f'{action.reason} ({held.how})',
                              raised=held.how == 'grouped')
                return held.incident
        severity = None
        existing = self._open_by_robot.get(action.robot_id, set())
        for inc_id in existing:
            inc = self.book.get(inc_id)
            if inc.type == action.type:
                severity = inc.severity
        inc, created = self.book.observe(action, action.fact,
                                         self.context.snapshot(action.robot_id, now))
        if created:
            # The flow owns the book; an incident stands for the facts that opened it.
            inc.count = max(inc.count, self._facts_behind(action))
            if self.ops is not None:
                self.ops.opened(inc, action, now)
            self._open_by_robot.setdefault(inc.robot_id, set()).add(inc.id)
            _incident_event(res, INCIDENT_OPENED, inc, {'reason': action.reason})
            res.bags.append(BagRequest(inc.id, inc.robot_id, now - self.bag_seconds, now))
            # Page level 1 with the opening rather than at the next tick.
            self._deliver(self.escalator.tick(now, [inc]), res)
        else:
            self._updated(inc, res, action.reason, raised=severity is not None
                          and severity != inc.severity)
        return inc

    def _updated(self, inc: Incident, res: FlowResult, reason: str, raised: bool) -> None:
        res.changed(inc)
        if raised or inc.suppressed_repeats == 0 or inc.count % self.update_event_every == 0:
            _incident_event(res, INCIDENT_UPDATED, inc, {'reason': reason})

    def _fold(self, fact: FleetFact, counted: set[str], res: FlowResult, now: float) -> None:
        window = self.book.settings.dedup_window
        for inc_id in sorted(self._open_by_robot.get(fact.robot_id, set()) - counted):
            inc = self.book.get(inc_id)
            rule = self._rules.get(inc.rule)
            if (not inc.is_open or rule is None or not counts_toward(rule, fact)
                    or now - inc.last_seen > window
                    or self.book.key_for(inc.type, fact.robot_id, fact.area) != inc.dedup_key):
                continue
            action = OpenIncidentAction(
                rule=inc.rule, robot_id=fact.robot_id, time=fact.time, fact=fact,
                reason=f'{fact.kind} on {fact.robot_id} while {inc.id} is open',
                type=inc.type, severity=inc.severity, policy=inc.escalation.policy,
                title=inc.title)
            got, created = self.book.observe(action, fact)
            if created:  # only if the dedup index disagreed; treat it as a new incident
                self._open_by_robot.setdefault(got.robot_id, set()).add(got.id)
                _incident_event(res, INCIDENT_OPENED, got, {'reason': action.reason})
            else:
                self._updated(got, res, action.reason, raised=False)

    def _once(self, incident_id: str | None, key: tuple[str, ...], now: float) -> bool:
        """True the first time ``key`` runs for the incident (or, without one, the first
        time within the cooldown); records the run."""
        if incident_id is not None:
            done = self._incident_actions.setdefault(incident_id, set())
            if key in done:
                return False
            done.add(key)
            return True
        last = self._cooldowns.get(key)
        if last is not None and now - last < self.action_cooldown:
            return False
        self._cooldowns[key] = now
        return True

    def _command(self, action: CommandAction, incident_id: str | None, res: FlowResult,
                 now: float) -> None:
        robot = action.robot_id
        if not self._once(incident_id, (action.rule, robot, 'command', action.command.value),
                          now):
            return
        args, skipped = command_args(action, self.context.memory(robot).record, self.fleet)
        if not skipped:
            res.commands.append(CommandRequest(robot, action.command.value, args))
        if incident_id is not None:
            inc = self.book.add_note(
                incident_id, action.rule,
                f'{"skipped" if skipped else "sent"} command {action.command.value}'
                + (f': {skipped}' if skipped else ''),
                kind='command_skipped' if skipped else 'command',
                data={'command': action.command.value, 'args': args})
            res.changed(inc)

    def _on_timeline(self, robot: str, entry: tuple[str, str, str, dict[str, Any]],
                     res: FlowResult) -> None:
        """Add ``entry`` to every open incident of ``robot``."""
        kind, who, text, data = entry
        for inc_id in sorted(self._open_by_robot.get(robot, set())):
            res.changed(self.book.add_note(inc_id, who, text, kind=kind, data=data))

    def _notify_action(self, action: NotifyAction, incident_id: str | None,
                       res: FlowResult, now: float) -> None:
        if not self._once(incident_id, (action.rule, action.robot_id, 'notify',
                                        action.channel), now):
            return
        config = self.workflows.escalation
        channel = config.channels.get(action.channel)
        inc = self.book.get(incident_id) if incident_id is not None else None
        note = {'incident_id': incident_id or '', 'level': 0, 'repeat': 0,
                'target': action.channel, 'channel': action.channel,
                'channel_type': channel.type if channel else '',
                'address': channel.address if channel else '', 'time': now,
                'reason': 'rule', 'via': f'rule:{action.rule}', 'policy': '',
                'message': action.message, 'robot_id': action.robot_id, 'rule': action.rule}
        mission = (inc.mission_id if inc else action.fact.mission_id) or ''
        res.events.append(NewEvent(NOTIFICATION_SENT, action.robot_id, note, mission))
        res.notifications.append(note)
        if inc is not None:
            self.book.add_note(inc.id, action.rule, f'notified {action.channel}',
                               kind='notified', data=note)
            res.changed(inc)

    def _escalate_action(self, action: EscalateAction, incident_id: str | None,
                         res: FlowResult, now: float) -> None:
        if incident_id is not None:
            targets = [self.book.get(incident_id)]
        else:
            targets = sorted((self.book.get(i) for i in
                              self._open_by_robot.get(action.robot_id, set())),
                             key=lambda i: (i.opened_at, i.id))
            if action.incident_type:
                targets = [i for i in targets if i.type == action.incident_type]
        for inc in targets:
            if not self._once(inc.id, (action.rule, 'escalate'), now):
                continue
            try:
                notes = self.escalator.escalate_now(inc, now, action.policy)
            except KeyError:  # the policy was validated at load; nothing else to do
                continue
            res.changed(inc)
            self._deliver(notes, res)

    def _deliver(self, notifications: Iterable[Notification], res: FlowResult) -> None:
        if self.ops is not None:  # a silence mutes pages; the timeline says so
            notifications = self.ops.unsilenced(notifications, self.book, res.changed,
                                                self._now)
        deliver(self.book, self.workflows.escalation, notifications, res)

    def _open_ids(self) -> builtins.list[str]:
        return [i for ids in self._open_by_robot.values() for i in ids]

    def _unindex(self, inc: Incident) -> None:
        ids = self._open_by_robot.get(inc.robot_id)
        if ids is not None:
            ids.discard(inc.id)
            if not ids:
                del self._open_by_robot[inc.robot_id]
        self._incident_actions.pop(inc.id, None)

    # Last, so that ``list`` in the annotations above means the builtin.
    def list(self, state: IncidentState | str | None = None, robot_id: str | None = None,
             type: str | None = None, since: float | None = None,
             until: float | None = None) -> builtins.list[Incident]:
        """Return the incidents the flow holds (resolved ones until pruned after the
        recurrence lookback), newest first, filtered by state, robot, type and opening
        time ``since <= opened_at < until``. ValueError for an unknown state."""
        wanted = None if state in (None, '') else IncidentState(state)
        out = [i for i in self.book.incidents(wanted)
               if (not robot_id or i.robot_id == robot_id) and (not type or i.type == type)
               and (since is None or i.opened_at >= since)
               and (until is None or i.opened_at < until)]
        out.reverse()
        return out

