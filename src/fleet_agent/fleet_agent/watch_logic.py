"""The decisions behind :class:`fleet_agent.nav2_watch.Nav2Watch`, without rclpy.

Everything here is fed plain values (goal ids as hex strings, status codes as ints, BT node
names and status labels as strings, booleans, counts) and returns :class:`WatchEvent` values
for the agent to publish, so it is unit-tested without a ROS graph.

* :class:`GoalTracker` turns a behavior server's ``_action/status`` arrays into one
  ``recovery_started`` and one outcome event (``recovery_succeeded``/``recovery_failed``)
  per goal, with bounded memory.
* :class:`BtRecoveryFilter` turns ``behavior_tree_log`` status changes of recovery-type BT
  nodes into ``bt_recovery`` events, unless the behavior is already covered by an action
  status topic (see its docstring for the rule).
* :class:`EdgeDetector` reports rising and falling edges of a boolean (safety stop).
* :class:`RecoveryCounter` reports increases of Nav2's ``number_of_recoveries``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import enum
from typing import Any, Callable, Iterable, Sequence

#: Behavior-server actions watched by default (Nav2's behavior_server names).
DEFAULT_BEHAVIORS: tuple[str, ...] = (
    'spin', 'backup', 'wait', 'drive_on_heading', 'assisted_teleop')

#: BT node names (registration ids) treated as recoveries by default. A logged node counts
#: when its name equals one of these or starts with one at a word boundary, so Nav2's
#: ``ClearEntireCostmap name="ClearLocalCostmap-Subtree"`` matches ``ClearLocalCostmap``.
DEFAULT_BT_RECOVERY_NODES: tuple[str, ...] = (
    'Spin', 'BackUp', 'Wait', 'DriveOnHeading', 'AssistedTeleop', 'ClearEntireCostmap',
    'ClearLocalCostmap', 'ClearGlobalCostmap', 'ClearCostmapExceptRegion',
    'ClearCostmapAroundRobot', 'ClearCostmapAroundPose')

#: Goal ids a GoalTracker remembers per behavior by default.
DEFAULT_GOAL_MEMORY = 256

# RobotEvent severities (fleet_msgs/RobotEvent.severity).
INFO, WARNING, ERROR, CRITICAL = 0, 1, 2, 3


class GoalStatusCode(enum.IntEnum):
    """Values of action_msgs/GoalStatus ``status``."""

    UNKNOWN = 0
    """The server does not know the goal (or the status is not set)."""
    ACCEPTED = 1
    """Accepted and waiting to execute."""
    EXECUTING = 2
    """The behavior is running."""
    CANCELING = 3
    """A cancel was requested; the behavior is winding down."""
    SUCCEEDED = 4
    """Terminal: the behavior did what was asked."""
    CANCELED = 5
    """Terminal: canceled before it finished."""
    ABORTED = 6
    """Terminal: the server gave up (time allowance, collision ahead, shutdown...)."""

    @property
    def terminal(self) -> bool:
        """True for SUCCEEDED, CANCELED and ABORTED."""
        return self in (GoalStatusCode.SUCCEEDED, GoalStatusCode.CANCELED,
                        GoalStatusCode.ABORTED)

    @classmethod
    def of(cls, value: int) -> 'GoalStatusCode':
        """Return the code for ``value``; unknown numbers map to UNKNOWN."""
        try:
            return cls(int(value))
        except ValueError:
            return cls.UNKNOWN


class GoalPhase(enum.IntEnum):
    """What has been reported about one goal; the order is the order of the reports."""

    NONE = 0
    """Seen (accepted) but nothing reported yet."""
    STARTED = 1
    """``recovery_started`` was reported."""
    FINISHED = 2
    """The outcome was reported, or the goal is ignored (it predates the watch)."""


class Edge(str, enum.Enum):
    """A change of a boolean signal."""

    RISING = 'rising'
    """False (or unknown) -> True."""
    FALLING = 'falling'
    """True -> False."""


@dataclass(frozen=True)
class WatchEvent:
    """A robot event to publish: the arguments of the agent's ``emit``."""

    type: str
    severity: int
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GoalSample:
    """One entry of a GoalStatusArray: the goal id (hex), its accept stamp (s) and status."""

    goal_id: str
    stamp: float
    status: int


def _goal_label(goal_id: str) -> str:
    return goal_id[:8]


class GoalTracker:
    """Reports the life of a behavior server's goals from its status arrays.

    Contract, per goal id, each report at most once:

    * first seen EXECUTING or CANCELING -> ``recovery_started`` (severity 1);
    * SUCCEEDED -> ``recovery_succeeded`` (0); ABORTED or CANCELED -> ``recovery_failed``
      (2); a goal first seen already terminal gets ``recovery_started`` (data ``late``:
      True) and its outcome together, because a status array in between was missed;
    * ACCEPTED and UNKNOWN report nothing;
    * goals present in the *first* array this tracker receives that are already terminal
      are ignored: they finished before the watch started (an agent restart must not
      replay them); goals executing then are reported as started.

    Memory is bounded: at most ``memory`` goal ids are kept. When more are seen, the oldest
    (by accept stamp) are forgotten and the newest forgotten stamp becomes a horizon: an
    unknown goal accepted at or before it is treated as already reported, so a forgotten
    goal still listed by the server is never reported twice.

    Event data: ``behavior``, ``goal_id`` (hex), ``status`` (label), ``source``
    ('action_status'); outcome events add ``elapsed`` (s since the start was reported,
    using the times passed to :meth:`update`).
    """

    def __init__(self, behavior: str, memory: int = DEFAULT_GOAL_MEMORY) -> None:
        if memory < 1:
            raise ValueError('memory must be at least 1')
        self.behavior = behavior
        self.memory = memory
        self.heard = False
        """True once a status array arrived (the behavior is covered by its status topic)."""
        self._phases: dict[str, tuple[float, GoalPhase, float | None]] = {}
        self._horizon = float('-inf')

    def __len__(self) -> int:
        return len(self._phases)

    def update(self, now: float, goals: Iterable[GoalSample]) -> list[WatchEvent]:
        """Digest one status array received at ``now``; return the events, in order."""
        first = not self.heard
        self.heard = True
        out: list[WatchEvent] = []
        for goal in goals:
            code = GoalStatusCode.of(goal.status)
            known = self._phases.get(goal.goal_id)
            if known is None:
                if goal.stamp <= self._horizon:
                    continue
                phase = GoalPhase.FINISHED if (first and code.terminal) else GoalPhase.NONE
                known = (goal.stamp, phase, None)
                if not self._remember(goal.goal_id, known):
                    continue
            stamp, phase, started_at = known
            if phase is GoalPhase.FINISHED:
                continue
            if code in (GoalStatusCode.EXECUTING, GoalStatusCode.CANCELING) or code.terminal:
                if phase is GoalPhase.NONE:
                    out.append(self._started(goal.goal_id, code, late=code.terminal))
                    phase, started_at = GoalPhase.STARTED, now
                if code.terminal:
                    out.append(self._finished(goal.goal_id, code, now - (started_at or now)))
                    phase = GoalPhase.FINISHED
                self._phases[goal.goal_id] = (stamp, phase, started_at)
        return out

    def _remember(self, goal_id: str, entry: tuple[float, GoalPhase, float | None]) -> bool:
        """Add a goal, forgetting the oldest beyond ``memory``; False if it was forgotten."""
        self._phases[goal_id] = entry
        if len(self._phases) <= self.memory:
            return True
        # Forget the oldest by accept stamp (arrays list goals in any order).
        by_stamp = sorted(self._phases.items(), key=lambda kv: kv[1][0])
        for gid, (stamp, _, _) in by_stamp[:len(self._phases) - self.memory]:
            del self._phases[gid]
            self._horizon = max(self._horizon, stamp)
        return goal_id in self._phases

    def _data(self, goal_id: str, code: GoalStatusCode) -> dict[str, Any]:
        return {'behavior': self.behavior, 'goal_id': goal_id, 'status': code.name.lower(),
                'source': 'action_status'}

    def _started(self, goal_id: str, code: GoalStatusCode, late: bool) -> WatchEvent:
        data = self._data(goal_id, code)
        if late:
            data['late'] = True
        return WatchEvent('recovery_started', WARNING,
                          f'recovery {self.behavior} started (goal {_goal_label(goal_id)})',
                          data)

    def _finished(self, goal_id: str, code: GoalStatusCode, elapsed: float) -> WatchEvent:
        data = self._data(goal_id, code)
        data['elapsed'] = round(max(0.0, elapsed), 3)
        if code is GoalStatusCode.SUCCEEDED:
            return WatchEvent('recovery_succeeded', INFO,
                              f'recovery {self.behavior} succeeded', data)
        return WatchEvent('recovery_failed', ERROR,
                          f'recovery {self.behavior} {code.name.lower()}', data)


def normalise_name(name: str) -> str:
    """Return ``name`` lower-cased without underscores: ``BackUp`` and ``backup``,
    ``DriveOnHeading`` and ``drive_on_heading`` compare equal."""
    return name.replace('_', '').lower()


class BtRecoveryFilter:
    """Turns behavior_tree_log status changes into ``bt_recovery`` events.

    A logged node is a recovery when its name equals a configured name or starts with one
    followed by a word boundary (an upper-case letter, a digit, ``-`` or ``_``); the longest
    configured name wins. Changes *to* RUNNING, SUCCESS and FAILURE are reported (data
    ``phase`` started / succeeded / failed, severities 1 / 0 / 2); changes to IDLE (the tree
    resetting a node) and unchanged statuses are not.

    No double counting: the BT node names the same behavior as a behavior-server action
    when the normalised names agree (``BackUp`` ~ ``backup``, see :func:`normalise_name`).
    Such a change is reported only while ``covered(behavior)`` is False, i.e. no action
    status topic reports that behavior (the caller decides: a status array was received
    or the topic has a publisher). Recoveries without an action (the costmap clears are
    services) are always reported.

    Event data: ``node``, ``uid``, ``from``, ``to``, ``phase``, ``recovery`` (the configured
    name matched), ``behavior`` (the action it corresponds to, '' if none), ``source``
    ('behavior_tree_log').
    """

    _PHASES = {'RUNNING': ('started', WARNING), 'SUCCESS': ('succeeded', INFO),
               'FAILURE': ('failed', ERROR)}

    def __init__(self, recovery_nodes: Sequence[str], behaviors: Sequence[str],
                 covered: Callable[[str], bool]) -> None:
        self._names = sorted((n for n in recovery_nodes if n), key=len, reverse=True)
        self._behaviors = {normalise_name(b): b for b in behaviors}
        self._covered = covered

    def recovery_of(self, node_name: str) -> str | None:
        """Return the configured recovery name ``node_name`` matches, or None."""
        for name in self._names:
            if node_name == name:
                return name
            if node_name.startswith(name):
                nxt = node_name[len(name)]
                if nxt.isupper() or nxt.isdigit() or nxt in '-_':
                    return name
        return None

    def behavior_of(self, recovery: str) -> str:
        """Return the behavior-server action a recovery corresponds to, '' if none."""
        return self._behaviors.get(normalise_name(recovery), '')

    def on_change(self, node_name: str, uid: int, previous: str,
                  current: str) -> WatchEvent | None:
        """Return the event for one status change, or None when it is not reported."""
        if previous == current or current not in self._PHASES:
            return None
        recovery = self.recovery_of(node_name)
        if recovery is None:
            return None
        behavior = self.behavior_of(recovery)
        if behavior and self._covered(behavior):
            return None
        phase, severity = self._PHASES[current]
        return WatchEvent('bt_recovery', severity, f'BT recovery {node_name} {phase}', {
            'node': node_name, 'uid': int(uid), 'from': previous, 'to': current,
            'phase': phase, 'recovery': recovery, 'behavior': behavior,
            'source': 'behavior_tree_log'})


class EdgeDetector:
    """Reports changes of a boolean signal; the state starts unknown.

    The first True is a rising edge (a robot that starts in a safety stop is reported);
    the first False only sets the state.
    """

    def __init__(self) -> None:
        self.state: bool | None = None
        self.since: float | None = None
        """When the current state began (the ``now`` of the update that set it)."""

    def update(self, value: bool, now: float) -> Edge | None:
        """Feed one sample at ``now``; return the edge it makes, or None."""
        value = bool(value)
        previous = self.state
        if previous == value:
            return None
        self.state = value
        self.since = now
        if value:
            return Edge.RISING
        return Edge.FALLING if previous else None


def safety_event(edge: Edge, topic: str, duration: float | None) -> WatchEvent:
    """Return the ``safety_stop`` (severity 2) or ``safety_cleared`` (0) event of an edge;
    ``duration`` is how long the stop lasted (for a falling edge), None if unknown."""
    if edge is Edge.RISING:
        return WatchEvent('safety_stop', ERROR, f'safety stop ({topic})', {'topic': topic})
    data: dict[str, Any] = {'topic': topic}
    if duration is not None:
        data['duration'] = round(duration, 3)
    return WatchEvent('safety_cleared', INFO, f'safety stop cleared ({topic})', data)


class RecoveryCounter:
    """Reports increases of Nav2's ``number_of_recoveries`` (navigation feedback).

    The count restarts with every navigation goal, so a value lower than the last one is
    taken as a new goal whose count started at 0 (its recoveries so far are reported).
    """

    def __init__(self) -> None:
        self.last = 0

    def reset(self) -> None:
        """Forget the count (call when a new navigation goal starts)."""
        self.last = 0

    def update(self, count: int) -> int:
        """Return how many recoveries ``count`` adds (0 when none)."""
        count = max(0, int(count))
        if count < self.last:
            self.last = 0
        added = count - self.last
        self.last = count
        return added


def recovery_count_event(count: int, added: int, covered: bool) -> WatchEvent:
    """Return the ``recovery_count`` event (severity 1); ``covered`` says whether behavior
    status topics already report the recoveries individually (rules can match it)."""
    return WatchEvent('recovery_count', WARNING,
                      f'Nav2 reports {count} recover{"y" if count == 1 else "ies"}',
                      {'count': count, 'new': added, 'covered_by_action_status': covered,
                       'source': 'navigation_feedback'})


def goal_id_hex(uuid: Iterable[int] | bytes) -> str:
    """Return the hex string of a unique_identifier_msgs/UUID ``uuid`` field."""
    return bytes(bytearray(uuid)).hex()
