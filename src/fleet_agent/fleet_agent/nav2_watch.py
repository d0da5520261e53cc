"""Watch a robot's Nav2 for recoveries and safety stops and report them as robot events.

:class:`Nav2Watch` attaches to the agent's node (topics resolve in the agent's namespace)
and reports through the agent's ``emit(type, severity, message, data)``:

================== ======== ===========================================================
type               severity source
================== ======== ===========================================================
recovery_started   1        ``<behavior>/_action/status``: a goal starts executing
recovery_succeeded 0        the goal SUCCEEDED
recovery_failed    2        the goal was ABORTED or CANCELED
bt_recovery        0/1/2    ``behavior_tree_log``: a recovery-type BT node changed to
                            RUNNING/SUCCESS/FAILURE, only for behaviors no action status
                            topic covers (no double counting; see BtRecoveryFilter)
safety_stop        2        the safety topic (std_msgs/Bool) became True
safety_cleared     0        it became False again
recovery_count     1        :meth:`Nav2Watch.on_nav_feedback_recoveries` saw Nav2's
                            ``number_of_recoveries`` increase
================== ======== ===========================================================

The decisions (goal-state tracking, the double-counting rule, edge detection) live in
:mod:`fleet_agent.watch_logic`; this module only converts messages and owns subscriptions.

Threading: subscriptions run in one mutually exclusive callback group, so status arrays
are digested in order; :meth:`Nav2Watch.on_nav_feedback_recoveries` may be called from any
thread. ``emit`` is called without this object's lock held, so it may take the agent's.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import threading
from typing import Any, Callable, Mapping, Sequence

from action_msgs.msg import GoalStatusArray
from nav2_msgs.msg import BehaviorTreeLog
from rclpy.callback_groups import CallbackGroup, MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool

from fleet_agent.watch_logic import (
    DEFAULT_BEHAVIORS,
    DEFAULT_BT_RECOVERY_NODES,
    DEFAULT_GOAL_MEMORY,
    BtRecoveryFilter,
    EdgeDetector,
    GoalSample,
    GoalTracker,
    RecoveryCounter,
    WatchEvent,
    goal_id_hex,
    recovery_count_event,
    safety_event,
)
from fleet_common.params import declare_params, param

EmitFn = Callable[[str, int, str, dict[str, Any]], None]
ContextFn = Callable[[], Mapping[str, Any]]

#: Action status topics are latched (transient local) by action servers; a deeper history
#: than the default 1 keeps quick EXECUTING -> ABORTED sequences apart.
STATUS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Nav2's RosTopicLogger publishes behavior_tree_log reliable with depth 10.
BT_LOG_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
#: The safety topic: reliable, so a single on-change message is not lost.
SAFETY_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)

@dataclass(frozen=True)
class Nav2WatchConfig:
    """What to watch; topic names are relative to the agent's namespace.

    ``behaviors``: behavior-server action names (their ``<name>/_action/status`` topics);
    ``bt_log_topic``: the BehaviorTreeLog topic, '' to ignore it; ``bt_recovery_nodes``:
    BT node names that are recoveries; ``safety_topic``: a std_msgs/Bool that is True while
    a safety stop / intervention holds the robot, '' to disable; ``goal_memory``: goal ids
    remembered per behavior.
    """

    behaviors: tuple[str, ...] = param(
        DEFAULT_BEHAVIORS, 'Nav2 behavior-server actions whose <name>/_action/status is '
        'watched for recoveries.')
    bt_log_topic: str = param(
        'behavior_tree_log', 'nav2_msgs/BehaviorTreeLog topic; empty disables it.')
    bt_recovery_nodes: tuple[str, ...] = param(
        DEFAULT_BT_RECOVERY_NODES, 'BT node names reported as recoveries (bt_recovery) when '
        'no action status topic covers them.')
    safety_topic: str = param(
        '', 'std_msgs/Bool topic, True while a safety stop holds the robot; empty disables '
        'it.')
    goal_memory: int = param(
        DEFAULT_GOAL_MEMORY, 'Goal ids remembered per behavior (bounds memory).',
        unit='goals', bounds=(1, 1_000_000))

def declare_watch_parameters(node: Node, prefix: str = 'nav2_watch.') -> Nav2WatchConfig:
    """Declare the watch's parameters on ``node`` (``nav2_watch.behaviors`` ...) with the
    defaults of :class:`Nav2WatchConfig` and return the configured values."""
    return declare_params(node, Nav2WatchConfig, prefix)

def status_topic(behavior: str) -> str:
    """Return the action status topic of a behavior-server action."""
    return f'{behavior}/_action/status'

class Nav2Watch:
    """Reports Nav2 recoveries and safety stops of the robot ``node`` runs for.

    ``emit`` is the agent's ``emit(type, severity, message, data)``; ``context`` (optional)
    returns extra data merged into every event's data without overriding its keys, e.g.
    ``lambda: {'mission_id': ...}`` so the manager can attach the event to a mission.
    Subscriptions are created at once; :meth:`destroy` removes them.
    """

    def __init__(self, node: Node, emit: EmitFn, config: Nav2WatchConfig | None = None, *,
                 context: ContextFn | None = None,
                 callback_group: CallbackGroup | None = None) -> None:
        self.node = node
        self.config = config or Nav2WatchConfig()
        self._emit = emit
        self._context = context
        self._lock = threading.Lock()
        self._group = callback_group or MutuallyExclusiveCallbackGroup()
        self._trackers = {b: GoalTracker(b, self.config.goal_memory)
                          for b in self.config.behaviors}
        self._bt = BtRecoveryFilter(self.config.bt_recovery_nodes, self.config.behaviors,
                                    self.covered)
        self._safety = EdgeDetector()
        self._recoveries = RecoveryCounter()
        self._subs: list[Any] = []
        for behavior in self.config.behaviors:
            self._subs.append(node.create_subscription(
                GoalStatusArray, status_topic(behavior),
                functools.partial(self._on_status, behavior), STATUS_QOS,
                callback_group=self._group))
        if self.config.bt_log_topic:
            self._subs.append(node.create_subscription(
                BehaviorTreeLog, self.config.bt_log_topic, self._on_bt_log, BT_LOG_QOS,
                callback_group=self._group))
        if self.config.safety_topic:
            self._subs.append(node.create_subscription(
                Bool, self.config.safety_topic, self._on_safety, SAFETY_QOS,
                callback_group=self._group))

    # -- queries ---------------------------------------------------------------------------
    def covered(self, behavior: str) -> bool:
        """True when ``behavior``'s action status topic reports it: a status array arrived,
        or the topic has a publisher (the behavior server exists)."""
        tracker = self._trackers.get(behavior)
        if tracker is None:
            return False
        if tracker.heard:
            return True
        return self.node.count_publishers(self._resolved(status_topic(behavior))) > 0

    def any_covered(self) -> bool:
        """True when at least one watched behavior is covered (see :meth:`covered`)."""
        return any(self.covered(b) for b in self._trackers)

    def status_topics(self) -> list[str]:
        """Return the fully qualified status topics watched, in configuration order."""
        return [self._resolved(status_topic(b)) for b in self._trackers]

    # -- inputs ----------------------------------------------------------------------------
    def on_nav_feedback_recoveries(self, count: int) -> None:
        """Feed ``number_of_recoveries`` from NavigateToPose/ThroughPoses feedback; emits
        ``recovery_count`` when it increases (a lower value starts a new goal's count)."""
        with self._lock:
            added = self._recoveries.update(count)
        if added > 0:
            self._publish([recovery_count_event(int(count), added, self.any_covered())])

    def reset_recovery_count(self) -> None:
        """Forget the navigation recovery count (call when a new navigation goal starts)."""
        with self._lock:
            self._recoveries.reset()

    def destroy(self) -> None:
        """Remove the subscriptions; idempotent."""
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []

    # -- callbacks -------------------------------------------------------------------------
    def _now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _resolved(self, topic: str) -> str:
        return self.node.resolve_topic_name(topic)

    def _on_status(self, behavior: str, msg: GoalStatusArray) -> None:
        goals = [GoalSample(goal_id_hex(s.goal_info.goal_id.uuid),
                            s.goal_info.stamp.sec + s.goal_info.stamp.nanosec * 1e-9,
                            int(s.status))
                 for s in msg.status_list]
        with self._lock:
            events = self._trackers[behavior].update(self._now(), goals)
        self._publish(events)

    def _on_bt_log(self, msg: BehaviorTreeLog) -> None:
        events = []
        for change in msg.event_log:
            event = self._bt.on_change(change.node_name, int(change.uid),
                                       change.previous_status, change.current_status)
            if event is not None:
                events.append(event)
        self._publish(events)

    def _on_safety(self, msg: Bool) -> None:
        now = self._now()
        with self._lock:
            since = self._safety.since
            edge = self._safety.update(bool(msg.data), now)
        if edge is not None:
            duration = None if since is None else now - since
            self._publish([safety_event(edge, self._resolved(self.config.safety_topic),
                                        duration)])

    def _publish(self, events: Sequence[WatchEvent]) -> None:
        if not events:
            return
        extra = dict(self._context()) if self._context is not None else {}
        for event in events:
            data = dict(event.data)
            for key, value in extra.items():
                data.setdefault(key, value)
            self._emit(event.type, event.severity, event.message, data)
