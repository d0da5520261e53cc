"""Escalation: who hears about an incident, when, and again when nobody answers.

Configured in ``workflows.yaml`` (``channels``, ``users``, ``schedules``,
``escalation_policies``, ``default_policy``). A policy is an ordered list of levels, each
with ``targets`` and a ``timeout`` (s). The :class:`Escalator` is driven by the caller's
periodic ``tick(now, incidents)`` and returns every notification attempt, so the caller can
send it and record it on the incident's timeline:

* a new (TRIGGERED, never notified) incident notifies level 1 (reason ``opened``);
* not acknowledged ``timeout`` s after a level was notified, the next level is notified
  (``escalated``); the timeout runs from the notification, so a late tick after a restart
  moves one level, not several at once;
* after the last level's timeout, level 1 again (``repeat``) up to ``repeat`` times; after
  the last repeat's last level times out, escalation stops (``exhausted``);
* acknowledging stops escalation; with ``ack_timeout`` set, an incident acknowledged but
  not resolved within it returns to TRIGGERED and escalates from level 1 (``ack_timeout``).

Targets are user names, channel names or ``oncall:<schedule>``; a schedule resolves to the
person on shift at ``now`` (shifts ``HH:MM-HH:MM`` in the configured UTC offset, people
rotating daily or weekly from an epoch date).
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime
import enum
from typing import Any, Iterable, Mapping

from fleet_common.config import ConfigReader
from fleet_common.timeofday import Shift, uncovered
from fleet_manager.core.incidents import Incident, IncidentState

ONCALL_PREFIX = 'oncall:'
CHANNEL_TYPES = ('dashboard', 'log', 'webhook', 'email', 'sms', 'chat')
_UNIX_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


class Rotation(str, enum.Enum):
    """How often a schedule's shift hands over to the next person in its list."""

    DAILY = 'daily'
    """The next person every local day (counted from the day the shift starts)."""
    WEEKLY = 'weekly'
    """The next person every 7 local days, counted from the schedule's epoch date."""


class NotifyReason(str, enum.Enum):
    """Why a notification was sent; the value is the label recorded on the timeline."""

    OPENED = 'opened'
    """The incident is new: level 1 hears about it."""
    ESCALATED = 'escalated'
    """The previous level did not acknowledge within its timeout (or a rule escalated)."""
    REPEAT = 'repeat'
    """All levels were tried without an acknowledgement; starting again at level 1."""
    ACK_TIMEOUT = 'ack_timeout'
    """Acknowledged but not resolved within the policy's ack_timeout; re-escalating."""


@dataclass(frozen=True)
class Channel:
    """A place notifications go; ``type`` tells the sender how (see CHANNEL_TYPES)."""

    name: str
    type: str
    address: str = ''


@dataclass(frozen=True)
class User:
    """A person; notified through ``channel`` (at ``address`` when set, e.g. a phone)."""

    name: str
    channel: str
    address: str = ''


@dataclass(frozen=True)
class ScheduleShift:
    """One shift of a schedule: its daily window and the people who take turns on it."""

    name: str
    window: Shift
    people: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    """An on-call schedule; ``epoch_day`` is the rotation's first local day (days since
    1970-01-01) and ``utc_offset`` the local time's offset in seconds east of UTC."""

    name: str
    shifts: tuple[ScheduleShift, ...]
    rotation: Rotation = Rotation.DAILY
    epoch_day: int = 0
    utc_offset: int = 0
    fallback: str = ''

    def on_call(self, now: float) -> str | None:
        """Return who is on call at ``now``: the first shift containing the local time
        picks ``people[periods since epoch % len(people)]``; the fallback otherwise.

        A shift crossing midnight is counted from the day it started, so one person holds
        a whole night shift.
        """
        local = now + self.utc_offset
        for shift in self.shifts:
            if shift.window.contains(local):
                days = shift.window.start_day(local) - self.epoch_day
                period = days // (7 if self.rotation == Rotation.WEEKLY else 1)
                return shift.people[period % len(shift.people)]
        return self.fallback or None


@dataclass(frozen=True)
class EscalationLevel:
    """One level: who to notify, and how long (s) to wait for an acknowledgement."""

    targets: tuple[str, ...]
    timeout: float


@dataclass(frozen=True)
class EscalationPolicy:
    """Ordered levels, how many extra passes (``repeat``) and the optional ack timeout (s)."""

    name: str
    levels: tuple[EscalationLevel, ...]
    repeat: int = 0
    ack_timeout: float | None = None


@dataclass(frozen=True)
class EscalationConfig:
    """Everything the Escalator needs; built by :func:`parse_escalation`."""

    channels: Mapping[str, Channel]
    users: Mapping[str, User]
    schedules: Mapping[str, Schedule]
    policies: Mapping[str, EscalationPolicy]
    default_policy: str = ''

    def resolve(self, target: str, now: float) -> list[tuple[str, str]]:
        """Return ``[(recipient, channel)]`` for a configured target at ``now``.

        A user is reached on their channel; a channel is its own recipient;
        ``oncall:<schedule>`` is the user on shift (none when nobody is).
        """
        if target.startswith(ONCALL_PREFIX):
            person = self.schedules[target[len(ONCALL_PREFIX):]].on_call(now)
            return [] if person is None else self.resolve(person, now)
        if target in self.users:
            return [(target, self.users[target].channel)]
        if target in self.channels:
            return [(target, target)]
        raise KeyError(f'unknown escalation target {target!r}')


@dataclass(frozen=True)
class Notification:
    """One notification attempt: send it to ``target`` over ``channel`` and record it.

    ``level`` is 1-based, ``repeat`` the pass (0 on the first), ``via`` the configured
    target it came from (``oncall:operators`` for the person on shift).
    """

    incident_id: str
    level: int
    repeat: int
    target: str
    channel: str
    time: float
    reason: NotifyReason
    via: str = ''
    policy: str = ''

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (for the timeline entry's data and the event log)."""
        return {'incident_id': self.incident_id, 'level': self.level, 'repeat': self.repeat,
                'target': self.target, 'channel': self.channel, 'time': self.time,
                'reason': self.reason.value, 'via': self.via, 'policy': self.policy}


class Escalator:
    """Applies escalation policies to incidents; stateless apart from the incidents' own
    ``escalation`` state, which it updates (the caller persists the incidents)."""

    def __init__(self, config: EscalationConfig) -> None:
        self.config = config

    def policy_for(self, incident: Incident) -> EscalationPolicy | None:
        """Return the incident's policy; the default one when its policy no longer exists
        (config changed across a restart); None when the incident has no policy."""
        name = incident.escalation.policy
        if not name:
            return None
        return self.config.policies.get(name) or self.config.policies.get(
            self.config.default_policy)

    def tick(self, now: float, incidents: Iterable[Incident]) -> list[Notification]:
        """Advance every incident's escalation to ``now``; return the attempts, in order."""
        out: list[Notification] = []
        for incident in incidents:
            out.extend(self._step(incident, now))
        return out

    def escalate_now(self, incident: Incident, now: float,
                     policy: str = '') -> list[Notification]:
        """Escalate a TRIGGERED incident now, as if its level's timeout had expired.

        ``policy`` (KeyError if unknown) moves the incident to another policy, which starts
        at its level 1 (reason ``escalated``). Otherwise an incident never notified gets
        level 1 (``opened``); an exhausted one gets its last level again. Acknowledged and
        resolved incidents are left alone (returns []), but the policy switch is kept.
        """
        esc = incident.escalation
        switched = bool(policy) and policy != esc.policy
        if policy:
            if policy not in self.config.policies:
                raise KeyError(f'unknown escalation policy {policy!r}')
            esc.policy = policy
        pol = self.policy_for(incident)
        if pol is None or incident.state != IncidentState.TRIGGERED:
            return []
        if switched:
            esc.repeat = 0
            return self._notify(incident, pol, 1, now, NotifyReason.ESCALATED)
        if esc.level == 0:
            return self._notify(incident, pol, 1, now, NotifyReason.OPENED)
        if esc.exhausted:
            return self._notify(incident, pol, len(pol.levels), now, NotifyReason.ESCALATED)
        return self._advance(incident, pol, now)

    # -- internals -------------------------------------------------------------------------
    def _step(self, incident: Incident, now: float) -> list[Notification]:
        pol = self.policy_for(incident)
        if pol is None or incident.state == IncidentState.RESOLVED:
            return []
        esc = incident.escalation
        if incident.state == IncidentState.ACKNOWLEDGED:
            if (pol.ack_timeout is not None and incident.acknowledged_at is not None
                    and now >= incident.acknowledged_at + pol.ack_timeout):
                incident.retrigger(now, 'escalation', (
                    f'acknowledged by {incident.acknowledged_by or "someone"} but not '
                    f'resolved within {pol.ack_timeout:g} s'))
                esc.repeat = 0
                return self._notify(incident, pol, 1, now, NotifyReason.ACK_TIMEOUT)
            return []
        if esc.level == 0:
            esc.repeat = 0
            return self._notify(incident, pol, 1, now, NotifyReason.OPENED)
        if esc.exhausted or esc.next_at is None or now < esc.next_at:
            return []
        return self._advance(incident, pol, now)

    def _advance(self, incident: Incident, pol: EscalationPolicy,
                 now: float) -> list[Notification]:
        esc = incident.escalation
        if esc.level < len(pol.levels):
            return self._notify(incident, pol, esc.level + 1, now, NotifyReason.ESCALATED)
        if esc.repeat < pol.repeat:
            esc.repeat += 1
            return self._notify(incident, pol, 1, now, NotifyReason.REPEAT)
        esc.exhausted = True
        esc.next_at = None
        return []

    def _notify(self, incident: Incident, pol: EscalationPolicy, level: int, now: float,
                reason: NotifyReason) -> list[Notification]:
        esc = incident.escalation
        spec = pol.levels[level - 1]
        esc.level = level
        esc.exhausted = False
        esc.next_at = now + spec.timeout
        esc.last_notified_at = now
        out = []
        seen: set[tuple[str, str]] = set()
        for via in spec.targets:
            for target, channel in self.config.resolve(via, now):
                # Two targets naming one person (directly and through on-call) page once.
                if (target, channel) in seen:
                    continue
                seen.add((target, channel))
                out.append(Notification(incident.id, level, esc.repeat, target, channel, now,
                                        reason, via, pol.name))
        return out


# -- loading -------------------------------------------------------------------------------

def parse_shifts(r: ConfigReader, raw: Any, key: str = 'shifts') -> dict[str, Shift]:
    """Parse ``{name: 'HH:MM-HH:MM'}``; shifts crossing midnight are allowed."""
    shifts = {}
    for name, text in r.mapping(raw, key).items():
        shifts[name] = parse_shift(r, text, f'{key}.{name}')
    return shifts


def parse_shift(r: ConfigReader, value: Any, key: str) -> Shift:
    """Parse one ``'HH:MM-HH:MM'`` at ``key``; ConfigError naming the key otherwise."""
    return r.convert(r.string(value, key, required=True), key, Shift.parse)


def _epoch_day(r: ConfigReader, raw: Any, key: str) -> int:
    if isinstance(raw, datetime.datetime):
        raw = raw.date()
    if isinstance(raw, str):
        try:
            raw = datetime.date.fromisoformat(raw.strip())
        except ValueError:
            raise r.fail(key, f'{raw!r} is not a date (YYYY-MM-DD)') from None
    if not isinstance(raw, datetime.date):
        raise r.fail(key, f'must be a date (YYYY-MM-DD), got {raw!r}')
    return raw.toordinal() - _UNIX_EPOCH_ORDINAL


def _known(names: Iterable[str]) -> str:
    return ', '.join(sorted(names)) or 'none'


def _parse_channels(r: ConfigReader, raw: Any) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, item in r.mapping(raw, 'channels').items():
        key = f'channels.{name}'
        item = r.mapping(item, key, required=True)
        r.unknown_keys(item, {'type', 'address'}, key)
        ctype = r.string(item.get('type'), f'{key}.type', required=True)
        if ctype not in CHANNEL_TYPES:
            raise r.fail(f'{key}.type', f'unknown channel type {ctype!r} (expected one of: '
                         f'{", ".join(CHANNEL_TYPES)})')
        channels[name] = Channel(name, ctype, r.string(item.get('address'), f'{key}.address'))
    return channels


def _parse_users(r: ConfigReader, raw: Any, channels: Mapping[str, Channel]) -> dict[str, User]:
    users: dict[str, User] = {}
    for name, item in r.mapping(raw, 'users').items():
        key = f'users.{name}'
        if name in channels:
            raise r.fail(key, f'{name!r} is both a user and a channel; targets would be '
                         'ambiguous')
        if isinstance(item, str):
            item = {'channel': item}
        item = r.mapping(item, key, required=True)
        r.unknown_keys(item, {'channel', 'address'}, key)
        channel = r.string(item.get('channel'), f'{key}.channel', required=True)
        if channel not in channels:
            raise r.fail(f'{key}.channel', f'unknown channel {channel!r} (channels: '
                         f'{_known(channels)})')
        users[name] = User(name, channel, r.string(item.get('address'), f'{key}.address'))
    return users


def _need_user(r: ConfigReader, users: Mapping[str, User], value: Any, key: str) -> str:
    person = r.string(value, key, required=True)
    if person not in users:
        raise r.fail(key, f'unknown user {person!r} (users: {_known(users)})')
    return person


def _parse_schedule_shift(r: ConfigReader, entry: Any, key: str, shifts: Mapping[str, Shift],
                          users: Mapping[str, User]) -> ScheduleShift:
    entry = r.mapping(entry, key, required=True)
    r.unknown_keys(entry, {'name', 'hours', 'people'}, key)
    name = r.string(entry.get('name'), f'{key}.name')
    if entry.get('hours') is not None:
        window = parse_shift(r, entry['hours'], f'{key}.hours')
    elif name in shifts:
        window = shifts[name]
    else:
        raise r.fail(f'{key}.hours', 'is required unless name is one of shifts: '
                     f'{", ".join(sorted(shifts)) or "none defined"}')
    people = r.strings(entry.get('people'), f'{key}.people', required=True)
    for j, person in enumerate(people):
        _need_user(r, users, person, f'{key}.people[{j}]')
    return ScheduleShift(name or str(window), window, people)


def _parse_schedule(r: ConfigReader, name: str, raw: Any, shifts: Mapping[str, Shift],
                    users: Mapping[str, User], utc_offset: int) -> Schedule:
    key = f'schedules.{name}'
    raw = r.mapping(raw, key, required=True)
    r.unknown_keys(raw, {'rotation', 'epoch', 'shifts', 'fallback'}, key)
    rotation_text = r.string(raw.get('rotation', 'daily'), f'{key}.rotation')
    try:
        rotation = Rotation(rotation_text)
    except ValueError:
        raise r.fail(f'{key}.rotation', f'unknown rotation {rotation_text!r} (expected '
                     'daily or weekly)') from None
    if 'epoch' not in raw:
        raise r.fail(f'{key}.epoch', 'is required (the first day of the rotation)')
    epoch_day = _epoch_day(r, raw['epoch'], f'{key}.epoch')
    fallback = _need_user(r, users, raw['fallback'], f'{key}.fallback') \
        if raw.get('fallback') else ''
    entries = r.seq(raw.get('shifts'), f'{key}.shifts', required=True)
    if not entries:
        raise r.fail(f'{key}.shifts', 'must list at least one shift')
    sched_shifts = tuple(_parse_schedule_shift(r, entry, f'{key}.shifts[{i}]', shifts, users)
                         for i, entry in enumerate(entries))
    gap = uncovered(s.window for s in sched_shifts)
    if gap and not fallback:
        raise r.fail(f'{key}.shifts', f'nobody is on call {gap}; add a shift or a '
                     'fallback user')
    return Schedule(name, sched_shifts, rotation, epoch_day, utc_offset, fallback)


def _check_target(r: ConfigReader, config: EscalationConfig, value: Any, key: str) -> str:
    target = r.string(value, key, required=True)
    if target.startswith(ONCALL_PREFIX):
        if target[len(ONCALL_PREFIX):] not in config.schedules:
            raise r.fail(key, f'unknown schedule in {target!r} (schedules: '
                         f'{_known(config.schedules)})')
    elif target not in config.users and target not in config.channels:
        raise r.fail(key, f'unknown target {target!r}: not a user, a channel or '
                     'oncall:<schedule>')
    return target


def _parse_policy(r: ConfigReader, name: str, raw: Any,
                  config: EscalationConfig) -> EscalationPolicy:
    key = f'escalation_policies.{name}'
    raw = r.mapping(raw, key, required=True)
    r.unknown_keys(raw, {'levels', 'repeat', 'ack_timeout'}, key)
    levels = []
    raw_levels = r.seq(raw.get('levels'), f'{key}.levels', required=True)
    if not raw_levels:
        raise r.fail(f'{key}.levels', 'must list at least one level')
    for i, level in enumerate(raw_levels):
        lkey = f'{key}.levels[{i}]'
        level = r.mapping(level, lkey, required=True)
        r.unknown_keys(level, {'targets', 'timeout'}, lkey)
        targets = r.strings(level.get('targets'), f'{lkey}.targets', required=True)
        for j, target in enumerate(targets):
            _check_target(r, config, target, f'{lkey}.targets[{j}]')
        levels.append(EscalationLevel(targets, r.positive(level.get('timeout'),
                                                          f'{lkey}.timeout')))
    repeat = r.integer(raw.get('repeat', 0), f'{key}.repeat', minimum=0)
    ack_timeout = None if raw.get('ack_timeout') is None else \
        r.positive(raw['ack_timeout'], f'{key}.ack_timeout')
    return EscalationPolicy(name, tuple(levels), repeat, ack_timeout)


def parse_escalation(r: ConfigReader, root: Mapping[str, Any],
                     shifts: Mapping[str, Shift], utc_offset: int) -> EscalationConfig:
    """Parse the escalation sections of a workflows file (``channels``, ``users``,
    ``schedules``, ``escalation_policies``, ``default_policy``); ConfigError on problems,
    including every reference to an unknown user, channel, schedule or policy.

    ``utc_offset`` (seconds east of UTC) is the file's; schedules tell local time by it.
    """
    channels = _parse_channels(r, root.get('channels'))
    users = _parse_users(r, root.get('users'), channels)
    schedules = {name: _parse_schedule(r, name, raw, shifts, users, utc_offset)
                 for name, raw in r.mapping(root.get('schedules'), 'schedules').items()}
    config = EscalationConfig(channels, users, schedules, {})
    policies = {name: _parse_policy(r, name, raw, config)
                for name, raw in r.mapping(root.get('escalation_policies'),
                                           'escalation_policies').items()}
    default_policy = r.string(root.get('default_policy'), 'default_policy')
    if default_policy and default_policy not in policies:
        raise r.fail('default_policy', f'unknown policy {default_policy!r} (policies: '
                     f'{_known(policies)})')
    if not default_policy and 'default' in policies:
        default_policy = 'default'
    return EscalationConfig(channels, users, schedules, policies, default_policy)
