"""The event log's vocabulary: every kind the manager logs, each with one typed payload.

Producers build a payload object and log it (``NewEvent.of(payload, ...)`` in the manager);
consumers read a payload back with :func:`decode`. The same classes give the JSON schemas
that the bridge publishes in its OpenAPI document, and :func:`validate` checks a payload
dict against its kind (the manager's store does so for every event when
``FLEET_STRICT_EVENTS=1``, which the test suite sets).

Kind patterns (webhook subscriptions, ``GET /events?kind=``, SSE, ``fleetctl events tail``)
are matched in one way everywhere: :func:`kind_matches`. A pattern is an exact kind or a
glob where ``*`` matches any run of characters, dots included (``incident.*``,
``*.opened``, ``*``).

No rclpy here: the bridge, the manager's core and the tests import it freely.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import re
import types
import typing
from typing import Any, ClassVar, Mapping, TypeVar, Union

__all__ = [
    'EVENT_TYPES', 'EventKind', 'Payload', 'PatternError', 'decode', 'event_type',
    'json_schema', 'kind_matches', 'check_pattern', 'validate',
]


class EventKind(str, enum.Enum):
    """Every kind of entry in the manager's event log."""

    ROBOT_REGISTERED = 'robot.registered'
    """A robot was heard from for the first time."""
    ROBOT_CONNECTIVITY = 'robot.connectivity'
    """A robot went online, stale or offline."""
    ROBOT_SERVICE = 'robot.service'
    """A robot was decommissioned or recommissioned."""
    ROBOT_DOCK = 'robot.dock'
    """The manager sent an idle robot with a low battery to its dock."""
    ROBOT_EVENT = 'robot.event'
    """A fact an agent observed on its robot (a recovery, an abort, a mission outcome)."""
    ROBOT_COMMAND = 'robot.command'
    """A command was sent to a robot (by an operator, a rule or the manager)."""
    ROBOT_LINK = 'robot.link'
    """Something about a robot's link changed: a new outbox epoch, a rejected message."""
    MISSION_STATE = 'mission.state'
    """A mission changed state."""
    MANAGER_CONFIGURED = 'manager.configured'
    """The manager (re)configured; the digests of its configuration files."""
    MANAGER_INGEST = 'manager.ingest'
    """The manager fell behind applying robots' statuses, or caught up again."""
    INCIDENT_OPENED = 'incident.opened'
    """An incident was opened."""
    INCIDENT_UPDATED = 'incident.updated'
    """A repeat was folded into an open incident."""
    INCIDENT_ACKNOWLEDGED = 'incident.acknowledged'
    """Someone acknowledged an incident."""
    INCIDENT_RESOLVED = 'incident.resolved'
    """Someone resolved an incident."""
    INCIDENT_ESCALATED = 'incident.escalated'
    """An incident moved to a further escalation level or repeated a page."""
    SILENCE_CREATED = 'silence.created'
    """A person created a silence or maintenance window (matchers, times, who and why)."""
    SILENCE_EXPIRED = 'silence.expired'
    """A person expired a silence before its end (who and why)."""
    POSTMORTEM_DRAFTED = 'postmortem.drafted'
    """A postmortem draft was generated for a resolved incident."""
    POSTMORTEM_UPDATED = 'postmortem.updated'
    """A person edited (or imported) a postmortem."""
    NOTIFICATION_SENT = 'notification.sent'
    """A notification was handed to the bridge for delivery."""
    SLO_ALERT = 'slo.alert'
    """An SLO burn-rate alert started or stopped firing."""
    WEBHOOK_SUBSCRIPTION_DISABLED = 'webhook.subscription_disabled'
    """The bridge disabled a webhook subscription (its receiver answered 410 Gone)."""
    CONFIG_APPLIED = 'config.applied'
    """A desired-state revision was applied (or an older one restored as a new revision)."""
    CONFIG_REFUSED = 'config.refused'
    """An apply was refused (invalid desired state); nothing changed."""
    CONFIG_DRIFT = 'config.drift'
    """A robot's reported configuration started (or stopped) differing from its declared one."""
    CONFIG_RECONCILED = 'config.reconciled'
    """A robot's agent set the declared parameters on its nodes (the result, per parameter)."""
    ROBOT_INSTALL = 'robot.install'
    """A software install on a robot started, succeeded, failed or was refused."""
    ROLLOUT_CREATED = 'rollout.created'
    """A staged rollout of a release was created."""
    ROLLOUT_STEP = 'rollout.step'
    """A rollout started a step: more robots are selected for the release."""
    ROLLOUT_GATE = 'rollout.gate'
    """A rollout's analysis gate was evaluated (passed, failed or inconclusive)."""
    ROLLOUT_PAUSED = 'rollout.paused'
    """A rollout was paused (by an operator, an inconclusive gate or the error budget)."""
    ROLLOUT_RESUMED = 'rollout.resumed'
    """A paused rollout continues."""
    ROLLOUT_PROMOTED = 'rollout.promoted'
    """An operator promoted a rollout to its next (or last) step."""
    ROLLOUT_ABORTED = 'rollout.aborted'
    """An operator aborted a rollout; its updated robots go back to their versions."""
    ROLLOUT_ROLLED_BACK = 'rollout.rolled_back'
    """A rollout ended with its robots back on their previous versions."""
    ROLLOUT_COMPLETED = 'rollout.completed'
    """A rollout reached every robot of its scope."""

    def __str__(self) -> str:
        return self.value


class Payload:
    """Base of the payload dataclasses; ``KIND`` names the event kind it belongs to.

    Field names are the JSON keys, except where a field's metadata gives ``json`` (used for
    keys that are Python keywords, such as ``from``). A field that defaults to None is left
    out of the JSON while it is None; one without a default is always there (maybe null).
    """

    KIND: ClassVar[EventKind]

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object logged as the event's payload."""
        out: dict[str, Any] = {}
        for name, key, optional in _layout(type(self)):
            value = getattr(self, name)
            if value is None and optional:
                continue  # an optional field left unset
            out[key] = value if type(value) in _SCALARS else _plain(value)
        return out


P = TypeVar('P', bound=Payload)
EVENT_TYPES: dict[str, type[Payload]] = {}
"""Kind -> payload class, for every declared kind."""


def event_type(cls: type[P]) -> type[P]:
    """Register a payload class under its ``KIND`` (a class decorator)."""
    kind = cls.KIND.value
    if kind in EVENT_TYPES:
        raise ValueError(f'event kind {kind} declared twice')
    EVENT_TYPES[kind] = cls
    return cls


_SCALARS = (str, int, float, bool)
_LAYOUTS: dict[type, tuple[tuple[str, str, bool], ...]] = {}


def _layout(cls: type) -> tuple[tuple[str, str, bool], ...]:
    """(attribute, JSON key, optional) of each field of a payload class, computed once:
    events are built at every status change of a large fleet, so this stays cheap."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = tuple(
            (f.name, _json_name(f), f.default is None)
            for f in dataclasses.fields(cls))
    return layout


def _json_name(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get('json', f.name))


def _plain(value: Any) -> Any:
    if isinstance(value, Payload):
        return value.to_json()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _optional(tp: Any) -> bool:
    return _is_union(tp) and type(None) in typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


# -- shared parts --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PoseJson(Payload):
    """A planar pose in the map frame: metres and radians."""

    x: float
    y: float
    theta: float = 0.0
    frame_id: str | None = None


# -- robots --------------------------------------------------------------------------------
@event_type
@dataclasses.dataclass(frozen=True)
class RobotRegistered(Payload):
    """Payload of ``robot.registered``."""

    KIND = EventKind.ROBOT_REGISTERED
    capabilities: list[str]


@event_type
@dataclasses.dataclass(frozen=True)
class RobotConnectivity(Payload):
    """Payload of ``robot.connectivity``: ``from`` and ``to`` are online, stale, offline."""

    KIND = EventKind.ROBOT_CONNECTIVITY
    from_: str = dataclasses.field(metadata={'json': 'from'})
    to: str
    reason: str


@event_type
@dataclasses.dataclass(frozen=True)
class RobotService(Payload):
    """Payload of ``robot.service``."""

    KIND = EventKind.ROBOT_SERVICE
    in_service: bool
    reason: str
    who: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class RobotDock(Payload):
    """Payload of ``robot.dock``."""

    KIND = EventKind.ROBOT_DOCK
    dock: str
    battery: float | None
    reason: str


@event_type
@dataclasses.dataclass(frozen=True)
class RobotEventLogged(Payload):
    """Payload of ``robot.event``: the agent's report plus where the robot was.

    ``type`` is the agent's event type (``recovery_started``, ``nav_aborted``,
    ``mission.finished``, ...), ``severity`` 0 info .. 3 critical, ``data`` the type's own
    details; ``epoch`` and ``seq`` number it in the agent's outbox; ``stamp`` is the agent's
    time (epoch s) and ``area`` the named area at ``pose``. ``intervention`` is true when the
    manager counted it as a human intervention on ``mission_id`` (a safety stop, or an
    operator's pause, resume or return to dock during the mission).
    """

    KIND = EventKind.ROBOT_EVENT
    type: str
    severity: int
    message: str
    data: dict[str, Any]
    seq: int
    stamp: float
    epoch: int = 0
    pose: PoseJson | None = None
    area: str | None = None
    mission_id: str | None = None
    intervention: bool = False


@event_type
@dataclasses.dataclass(frozen=True)
class RobotCommandSent(Payload):
    """Payload of ``robot.command``: what was sent to the robot, by whom and why."""

    KIND = EventKind.ROBOT_COMMAND
    command: str
    args: dict[str, Any]
    who: str
    reason: str
    command_id: int
    mission_id: str | None = None


@event_type
@dataclasses.dataclass(frozen=True)
class RobotLink(Payload):
    """Payload of ``robot.link``.

    ``change`` is ``epoch`` (the agent started a new outbox: ``previous_epoch`` and
    ``last_seq`` say where the old one ended), ``rejected`` (messages refused: ``count``
    and ``reason``, e.g. a stale epoch or a sequence jump beyond the bound) or
    ``agent_restart`` (the robot's status numbering started over).
    """

    KIND = EventKind.ROBOT_LINK
    change: str
    epoch: int
    reason: str
    previous_epoch: int | None = None
    last_seq: int | None = None
    count: int | None = None


# -- missions ------------------------------------------------------------------------------
@event_type
@dataclasses.dataclass(frozen=True)
class MissionStateChanged(Payload):
    """Payload of ``mission.state``: one transition of one mission.

    ``from`` is None on submission. The outcome fields are set on the transition that ends
    an attempt: ``interventions`` and ``recoveries`` during it, the agent's ``error_code``
    and Nav2's ``nav_error_code``/``nav_error_msg``, and the robot's ``software_version``.
    """

    KIND = EventKind.MISSION_STATE
    mission_id: str
    state: str
    from_: str | None = dataclasses.field(metadata={'json': 'from'})
    robot_id: str
    attempt: int
    reason: str
    client_ref: str
    callback_url: str | None = None
    interventions: int | None = None
    recoveries: int | None = None
    error_code: int | None = None
    nav_error_code: int | None = None
    nav_error_msg: str | None = None
    software_version: str | None = None
    paused: bool | None = None


# -- the manager ---------------------------------------------------------------------------
@event_type
@dataclasses.dataclass(frozen=True)
class ManagerConfigured(Payload):
    """Payload of ``manager.configured``: file paths and digests, and which changed."""

    KIND = EventKind.MANAGER_CONFIGURED
    files: dict[str, str]
    digests: dict[str, str]
    changed: list[str]


@event_type
@dataclasses.dataclass(frozen=True)
class ManagerIngest(Payload):
    """Payload of ``manager.ingest``: ``state`` is ``behind`` (statuses were applied
    ``lag_s`` seconds after they arrived, more than the report period, or replaced by newer
    ones before being applied) or ``caught_up``; ``coalesced`` counts the statuses replaced
    unapplied since the previous ``manager.ingest`` event."""

    KIND = EventKind.MANAGER_INGEST
    state: str
    lag_s: float
    coalesced: int
    reason: str


# -- incidents -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class IncidentSummary(Payload):
    """The fields every ``incident.*`` payload carries (an incident without its context
    and timeline)."""

    id: str
    type: str
    severity: str
    state: str
    title: str
    robot_id: str
    mission_id: str | None
    area: str | None
    pose: PoseJson | None
    opened_at: float
    last_seen: float
    count: int
    rule: str
    recurrence: str
    escalation_level: int
    policy: str
    acknowledged_by: str | None
    resolved_by: str | None
    runbook: str
    robots: list[str] | None = None
    """The robots of a grouped incident (left out when it has one robot)."""
    silenced_by: list[str] | None = None
    """The silences that mute this incident's notifications (left out when none)."""


@event_type
@dataclasses.dataclass(frozen=True)
class IncidentOpened(IncidentSummary):
    """Payload of ``incident.opened``; ``reason`` is the rule's."""

    KIND = EventKind.INCIDENT_OPENED
    reason: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class IncidentUpdated(IncidentSummary):
    """Payload of ``incident.updated``."""

    KIND = EventKind.INCIDENT_UPDATED
    reason: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class IncidentAcknowledged(IncidentSummary):
    """Payload of ``incident.acknowledged``."""

    KIND = EventKind.INCIDENT_ACKNOWLEDGED
    who: str = ''
    note: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class IncidentResolved(IncidentSummary):
    """Payload of ``incident.resolved``."""

    KIND = EventKind.INCIDENT_RESOLVED
    who: str = ''
    note: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class IncidentEscalated(IncidentSummary):
    """Payload of ``incident.escalated``: the level reached and why."""

    KIND = EventKind.INCIDENT_ESCALATED
    level: int = 0
    repeat: int = 0
    reason: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class SilenceCreated(Payload):
    """Payload of ``silence.created``: the silence as created (``Silence.to_dict``)."""

    KIND = EventKind.SILENCE_CREATED
    id: str
    matchers: list[dict[str, str]]
    starts_at: float
    ends_at: float
    who: str
    reason: str
    repeat: str | None = None
    until: float | None = None


@event_type
@dataclasses.dataclass(frozen=True)
class SilenceExpired(Payload):
    """Payload of ``silence.expired``: which silence a person ended early, and why."""

    KIND = EventKind.SILENCE_EXPIRED
    id: str
    who: str
    reason: str


@event_type
@dataclasses.dataclass(frozen=True)
class PostmortemDrafted(Payload):
    """Payload of ``postmortem.drafted``: the incident a draft was generated for."""

    KIND = EventKind.POSTMORTEM_DRAFTED
    incident_id: str
    severity: str
    title: str


@event_type
@dataclasses.dataclass(frozen=True)
class PostmortemUpdated(Payload):
    """Payload of ``postmortem.updated``: who changed which fields of a postmortem, and why."""

    KIND = EventKind.POSTMORTEM_UPDATED
    incident_id: str
    who: str
    reason: str
    fields: list[str]
    status: str


@event_type
@dataclasses.dataclass(frozen=True)
class NotificationSent(Payload):
    """Payload of ``notification.sent``: one notification attempt, for the bridge to deliver
    to ``channel`` (its type and address) for ``target`` (a person or a channel)."""

    KIND = EventKind.NOTIFICATION_SENT
    incident_id: str
    level: int
    repeat: int
    target: str
    channel: str
    channel_type: str
    address: str
    time: float
    reason: str
    via: str
    policy: str
    message: str
    robot_id: str
    rule: str
    mission_id: str | None = None


@event_type
@dataclasses.dataclass(frozen=True)
class SloAlert(Payload):
    """Payload of ``slo.alert``: an alert of one SLO started (``state`` firing) or stopped
    (``resolved``) firing; burn rates over its long and short windows."""

    KIND = EventKind.SLO_ALERT
    slo: str
    alert: str
    state: str
    severity: str
    burn_long: float
    burn_short: float


# -- configuration as code ----------------------------------------------------------------
@event_type
@dataclasses.dataclass(frozen=True)
class ConfigApplied(Payload):
    """Payload of ``config.applied``: revision ``revision`` of the desired state is now in
    force. ``changes`` lists what changed (one line each, at most 200), ``robots_affected``
    how many robots' declared parameters changed, ``restored_from`` the older revision an
    operator rolled back to, ``next_configure`` the files that take effect at the manager's
    next configure (workflows, SLOs)."""

    KIND = EventKind.CONFIG_APPLIED
    revision: int
    who: str
    reason: str
    digest: str
    files: list[str]
    changes: list[str]
    robots_affected: int
    restored_from: int | None = None
    next_configure: list[str] | None = None


@event_type
@dataclasses.dataclass(frozen=True)
class ConfigRefused(Payload):
    """Payload of ``config.refused``: an apply was refused; ``file`` and ``key`` say where
    the desired state is invalid and ``error`` what is wrong. Nothing changed."""

    KIND = EventKind.CONFIG_REFUSED
    who: str
    reason: str
    error: str
    file: str
    key: str


@dataclasses.dataclass(frozen=True)
class DriftedParam(Payload):
    """One parameter whose reported value differs from the declared one (``actual`` is None
    when the node does not have it)."""

    node: str
    name: str
    declared: Any
    actual: Any


@event_type
@dataclasses.dataclass(frozen=True)
class ConfigDrift(Payload):
    """Payload of ``config.drift``: a robot's ``state`` became ``drifted`` (its reported
    parameters or software differ from the declared ones) or ``in_sync`` again. ``policy`` is
    its group's (``report`` or ``reconcile``); ``unreachable`` names managed nodes whose
    parameter service did not answer."""

    KIND = EventKind.CONFIG_DRIFT
    state: str
    policy: str
    revision: int
    params: list[DriftedParam]
    unreachable: list[str]
    software_version: str | None = None
    expected_version: str | None = None


@dataclasses.dataclass(frozen=True)
class ParamResult(Payload):
    """The result of setting one parameter."""

    node: str
    name: str
    value: Any
    ok: bool
    reason: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class ConfigReconciled(Payload):
    """Payload of ``config.reconciled``: the robot's agent set the declared parameters
    (``ok`` when every one took; ``reason`` says why not, e.g. the robot was busy)."""

    KIND = EventKind.CONFIG_RECONCILED
    ok: bool
    revision: int
    params: list[ParamResult]
    reason: str
    who: str


@event_type
@dataclasses.dataclass(frozen=True)
class RobotInstall(Payload):
    """Payload of ``robot.install``: ``phase`` is ``started``, ``succeeded``, ``failed`` or
    ``refused``. ``mission_id`` is the mission the robot executed when the install started
    (None: idle), ``exit_code`` the installer's, ``duration`` s from start to the result."""

    KIND = EventKind.ROBOT_INSTALL
    phase: str
    version: str
    previous_version: str
    reason: str
    who: str
    rollout_id: str | None = None
    mission_id: str | None = None
    exit_code: int | None = None
    duration: float | None = None


# -- rollouts ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RolloutRef(Payload):
    """The fields every ``rollout.*`` payload carries: the rollout, its release, its state
    and step (0-based) after the change, who caused it and why."""

    id: str
    release: str
    state: str
    step: int
    who: str
    reason: str


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutCreated(RolloutRef):
    """Payload of ``rollout.created``: ``robots`` in scope, ``previous`` versions (version ->
    robots), the step names, the strategy and analysis template."""

    KIND = EventKind.ROLLOUT_CREATED
    robots: int = 0
    previous: dict[str, int] = dataclasses.field(default_factory=dict)
    steps: list[str] = dataclasses.field(default_factory=list)
    strategy: str = ''
    analysis: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutStep(RolloutRef):
    """Payload of ``rollout.step``: step ``step_name`` selects ``target`` robots in all;
    ``added`` are the robots it adds (each is updated once idle)."""

    KIND = EventKind.ROLLOUT_STEP
    step_name: str = ''
    target: int = 0
    added: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class GateCheck(Payload):
    """One metric of a gate: the updated cohort's value, the baseline's, the limit, and the
    check's verdict (``pass``, ``fail``, ``inconclusive``)."""

    metric: str
    canary: float | None
    baseline: float | None
    limit: str
    verdict: str
    detail: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutGate(RolloutRef):
    """Payload of ``rollout.gate``: ``verdict`` of the analysis over the window, from
    ``canary_missions`` of the updated cohort and ``baseline_missions`` of the baseline."""

    KIND = EventKind.ROLLOUT_GATE
    verdict: str = ''
    checks: list[GateCheck] = dataclasses.field(default_factory=list)
    canary_missions: int = 0
    baseline_missions: int = 0
    window_s: float = 0.0


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutPaused(RolloutRef):
    """Payload of ``rollout.paused``: ``cause`` is ``operator``, ``inconclusive`` or
    ``error_budget`` (resumes by itself once the budget allows)."""

    KIND = EventKind.ROLLOUT_PAUSED
    cause: str = ''


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutResumed(RolloutRef):
    """Payload of ``rollout.resumed``."""

    KIND = EventKind.ROLLOUT_RESUMED


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutPromoted(RolloutRef):
    """Payload of ``rollout.promoted``: from step ``from_step`` to ``step`` (the last one when
    ``full``), skipping the rest of the bake and the gate."""

    KIND = EventKind.ROLLOUT_PROMOTED
    from_step: int = 0
    full: bool = False


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutAborted(RolloutRef):
    """Payload of ``rollout.aborted``: its updated robots go back to their versions."""

    KIND = EventKind.ROLLOUT_ABORTED


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutRolledBack(RolloutRef):
    """Payload of ``rollout.rolled_back``: ``robots`` went back to their previous versions;
    ``failed`` could not (see their ``robot.install`` events)."""

    KIND = EventKind.ROLLOUT_ROLLED_BACK
    robots: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)


@event_type
@dataclasses.dataclass(frozen=True)
class RolloutCompleted(RolloutRef):
    """Payload of ``rollout.completed``: every robot of the scope runs the release."""

    KIND = EventKind.ROLLOUT_COMPLETED
    robots: int = 0


@event_type
@dataclasses.dataclass(frozen=True)
class WebhookSubscriptionDisabled(Payload):
    """Payload of ``webhook.subscription_disabled``: which subscription, the HTTP status
    that disabled it and why; enabled again over ``POST /webhooks/subscriptions/{name}/
    enable``."""

    KIND = EventKind.WEBHOOK_SUBSCRIPTION_DISABLED
    subscription: str
    status: int
    reason: str


# -- reading and checking ------------------------------------------------------------------
def decode(kind: str, payload: Mapping[str, Any]) -> Payload:
    """Return the typed payload of an event; KeyError for an undeclared kind.

    Tolerant of what older managers logged: unknown keys are ignored and a missing
    optional key takes its default.
    """
    cls = EVENT_TYPES[kind]
    return _build(cls, payload)


def _build(cls: type[P], data: Mapping[str, Any]) -> P:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = _json_name(f)
        if key not in data:
            continue
        value = data[key]
        target = _payload_class(hints[f.name])
        if target is not None and isinstance(value, Mapping):
            value = _build(target, value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _payload_class(tp: Any) -> type[Payload] | None:
    candidates = typing.get_args(tp) if _is_union(tp) else (tp,)
    for c in candidates:
        if isinstance(c, type) and issubclass(c, Payload):
            return c
    return None


def validate(kind: str, payload: Any) -> list[str]:
    """Return what is wrong with ``payload`` for ``kind`` (empty when it matches its type).

    Checks: the kind is declared, the payload is an object, every required key is there,
    no key is undeclared, and every value has its declared JSON type.
    """
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return [f'undeclared event kind {kind!r}']
    return _check_object(cls, payload, 'payload')


def _check_object(cls: type[Payload], value: Any, where: str) -> list[str]:
    if not isinstance(value, Mapping):
        return [f'{where}: expected an object, got {type(value).__name__}']
    hints = _hints(cls)
    errors = []
    known = set()
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = _json_name(f)
        known.add(key)
        tp = hints[f.name]
        if key not in value:
            required = (f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING)
            if required and not _optional(tp):
                errors.append(f'{where}.{key}: missing')
            continue
        errors.extend(_check_value(tp, value[key], f'{where}.{key}'))
    for key in value:
        if key not in known:
            errors.append(f'{where}.{key}: not declared for {cls.__name__}')
    return errors


def _check_value(tp: Any, value: Any, where: str) -> list[str]:
    if tp is Any:
        return []
    if _is_union(tp):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return []
        nested = []
        for option in options:
            if option is type(None):
                continue
            errors = _check_value(option, value, where)
            if not errors:
                return []
            if isinstance(option, type) and issubclass(option, Payload) \
                    and isinstance(value, Mapping):
                nested = errors
        if nested:
            return nested
        names = ' or '.join(_type_name(o) for o in options)
        return [f'{where}: expected {names}, got {type(value).__name__}']
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            return [f'{where}: expected a list, got {type(value).__name__}']
        (item,) = typing.get_args(tp)
        return [e for i, v in enumerate(value) for e in _check_value(item, v, f'{where}[{i}]')]
    if origin is dict:
        if not isinstance(value, Mapping):
            return [f'{where}: expected an object, got {type(value).__name__}']
        _, item = typing.get_args(tp)
        return [e for k, v in value.items() for e in _check_value(item, v, f'{where}.{k}')]
    if isinstance(tp, type) and issubclass(tp, Payload):
        return _check_object(tp, value, where)
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    return [] if ok else [f'{where}: expected {_type_name(tp)}, got {type(value).__name__}']


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return 'null'
    return {str: 'string', int: 'integer', float: 'number', bool: 'boolean'}.get(
        tp, getattr(tp, '__name__', str(tp)))


# -- schemas -------------------------------------------------------------------------------
def json_schema(kind: str) -> dict[str, Any]:
    """Return the JSON schema (draft 2020-12, as OpenAPI 3.1 uses) of ``kind``'s payload."""
    return _object_schema(EVENT_TYPES[kind])


def _object_schema(cls: type[Payload]) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = _json_name(f)
        props[key] = _schema(hints[f.name])
        has_default = not (f.default is dataclasses.MISSING
                           and f.default_factory is dataclasses.MISSING)
        if not has_default and not _optional(hints[f.name]):
            required.append(key)
    schema: dict[str, Any] = {'type': 'object', 'properties': props,
                              'additionalProperties': False}
    if cls.__doc__:
        schema['description'] = ' '.join(cls.__doc__.split())
    if required:
        schema['required'] = required
    return schema


def _schema(tp: Any) -> dict[str, Any]:
    if tp is Any:
        return {}
    if _is_union(tp):
        return {'anyOf': [_schema(o) for o in typing.get_args(tp)]}
    origin = typing.get_origin(tp)
    if origin is list:
        return {'type': 'array', 'items': _schema(typing.get_args(tp)[0])}
    if origin is dict:
        return {'type': 'object', 'additionalProperties': _schema(typing.get_args(tp)[1])}
    if isinstance(tp, type) and issubclass(tp, Payload):
        return _object_schema(tp)
    return {'type': _type_name(tp)}


# -- kind patterns -------------------------------------------------------------------------
class PatternError(ValueError):
    """A kind pattern uses characters other than letters, digits, ``_``, ``.`` and ``*``."""


_PATTERN = re.compile(r'^[A-Za-z0-9_.*]{1,100}$')


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a valid kind pattern; raise PatternError otherwise."""
    if not _PATTERN.match(pattern):
        raise PatternError(f'kind pattern {pattern!r}: use letters, digits, "_", "." and "*" '
                           '(at most 100 characters)')
    return pattern


def kind_matches(pattern: str, kind: str) -> bool:
    """True when ``kind`` matches ``pattern`` (exact, or a glob with ``*``)."""
    if '*' not in pattern:
        return pattern == kind
    return fnmatch.fnmatchcase(kind, pattern)


def matches_any(patterns: typing.Iterable[str], kind: str) -> bool:
    """True when ``patterns`` is empty or one of them matches ``kind``."""
    patterns = list(patterns)
    return not patterns or any(kind_matches(p, kind) for p in patterns)
