"""Action-server plumbing shared by the navigator and the behavior servers.

A goal here never holds an executor thread or task while it runs, so the node works on any
executor, single-threaded ones included. rclpy runs an execute callback as an executor
task; a callback that waits (blocking on an event, or an ``async def`` awaiting a Future)
either holds a thread or, on the EventsExecutor of rclpy 7.1.x, is resumed again and again
without pause (one pending task keeps a core busy). Instead each accepted goal becomes a
:class:`GoalRun` that the node's timer advances; when it ends, :meth:`GoalServer.finish`
hands its result to rclpy's own result path, as a task that completes at once.
"""

import enum
from typing import Any, Callable, ContextManager, Optional, Protocol

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

from fleet_sim.base import SimBase
from fleet_sim.params import SimConfig

RCLError = _rclpy.RCLError
#: Navigation and behavior feedback period (s).
FEEDBACK_PERIOD = 0.2


class GoalState(enum.Enum):
    """Terminal states a goal can end in."""

    SUCCEEDED = 'succeeded'
    """The goal was reached."""

    ABORTED = 'aborted'
    """The server gave up on the goal (see the result's error code)."""

    CANCELED = 'canceled'
    """A client canceled the goal."""


class Host(Protocol):
    """What goal runs need from the robot node (see :class:`fleet_sim.sim_node.SimRobot`).

    ``lock`` serialises everything that touches the robot's state; runs are started, ticked
    and ended with it held.
    """

    base: SimBase

    @property
    def lock(self) -> ContextManager[Any]:
        """The robot's reentrant lock."""

    @property
    def context(self) -> Any:
        """The node's rclpy context."""

    @property
    def config(self) -> SimConfig:
        """The current parameter snapshot."""

    @property
    def closing(self) -> bool:
        """True once the node is being destroyed."""

    def add_run(self, run: 'GoalRun') -> None:
        """Tick ``run`` now and then from the node's timer until it ends.

        A run whose code raises is ended ABORTED (see :meth:`GoalRun.fail`).
        """

    def get_logger(self) -> Any:
        """The node's logger."""

    def now_s(self) -> float:
        """The node clock's time (s)."""


class GoalServer(ActionServer):
    """An ActionServer that hands each goal to ``start`` once it is EXECUTING.

    ``ServerGoalHandle.execute()`` (rclpy's default accepted callback) moves a goal to
    EXECUTING and calls :meth:`notify_execute`, which here calls ``start(goal_handle)``
    instead of scheduling an execute task. The owner must later move the goal to a terminal
    state and call :meth:`finish`. Cancel requests are accepted; the owner sees them as
    ``goal_handle.is_cancel_requested``.
    """

    def __init__(self, node: Any, action_type: Any, name: str,
                 start: Callable[[ServerGoalHandle], None],
                 goal_callback: Callable[[Any], GoalResponse], callback_group: Any) -> None:
        super().__init__(node, action_type, name, self._no_execute_callback,
                         goal_callback=goal_callback, cancel_callback=self._on_cancel,
                         callback_group=callback_group)
        self._start = start
        self._owner = node

    @staticmethod
    def _no_execute_callback(_goal_handle: ServerGoalHandle) -> None:
        raise AssertionError('GoalServer goals are started through notify_execute')

    @staticmethod
    def _on_cancel(_goal_handle: ServerGoalHandle) -> CancelResponse:
        return CancelResponse.ACCEPT

    def notify_execute(self, goal_handle: ServerGoalHandle,
                       execute_callback: Optional[Callable[..., Any]]) -> None:
        """Start an accepted goal (rclpy's hook); run ``execute_callback`` if one is given."""
        if execute_callback is None:
            self._start(goal_handle)
        else:
            super().notify_execute(goal_handle, execute_callback)

    def finish(self, goal_handle: ServerGoalHandle, result: Any) -> bool:
        """Deliver ``result`` of a goal already in a terminal state to its clients.

        Returns False when no executor runs this node any more (after the executor was
        shut down, or the node removed from it): then nobody would send the result, and
        the status topic alone reports how the goal ended.
        """
        executor = self._owner.executor
        if executor is None or self._owner not in executor.get_nodes():
            return False
        super().notify_execute(goal_handle, lambda _goal_handle: result)
        return True


class GoalRun:
    """An executing goal, advanced by the robot's timer until it reaches a terminal state.

    Subclasses implement :meth:`tick` (called with the host's lock held, first right after
    the goal starts) and :meth:`shut_down`, and end the goal with :meth:`complete`.
    """

    def __init__(self, host: Host, server: GoalServer, goal_handle: ServerGoalHandle,
                 now: float) -> None:
        self.host = host
        self.server = server
        self.goal_handle = goal_handle
        self.key = bytes(goal_handle.goal_id.uuid)
        self.start = now
        self.ended = False
        self._next_feedback = now

    def tick(self, now: float) -> None:
        """Advance the goal to ``now`` (s); end it when it is done."""
        raise NotImplementedError

    def shut_down(self, now: float) -> None:
        """End the goal at ``now`` (s) because the node is being destroyed."""
        raise NotImplementedError

    def feedback_due(self, now: float) -> bool:
        """Return True (and plan the next one) if feedback is due at ``now``."""
        if now < self._next_feedback:
            return False
        self._next_feedback = now + FEEDBACK_PERIOD
        return True

    def request_feedback(self) -> None:
        """Make the next :meth:`feedback_due` return True."""
        self._next_feedback = 0.0

    def complete(self, state: GoalState, result: Any) -> None:
        """Move the goal to ``state`` and deliver ``result``; later calls do nothing.

        While the node is being destroyed only the state is published (on the status
        topic): the result could not be sent before the server is destroyed with the node.
        """
        if self.ended:
            return
        self.ended = True
        try:
            if state is GoalState.SUCCEEDED:
                self.goal_handle.succeed()
            elif state is GoalState.CANCELED:
                self.goal_handle.canceled()
            else:
                self.goal_handle.abort()
        except RCLError as error:
            logger = self.host.get_logger()
            if self.host.context.ok():
                logger.warning(f'Could not report the goal state: {error}')
            else:  # expected when rclpy was shut down (e.g. SIGTERM) before the node
                logger.debug(f'Goal state not reported after shutdown: {error}')
        if not self.host.closing:
            self.server.finish(self.goal_handle, result)

    def fail(self) -> None:
        """End the goal ABORTED with an empty result because its own code raised."""
        self.complete(GoalState.ABORTED, self.server.action_type.Result())
