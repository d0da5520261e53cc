"""The agent's own health on /diagnostics: link to the manager, event buffer, status rate.

Uses ``diagnostic_updater`` where it is installed (a full ROS 2 install); otherwise it
publishes the same ``diagnostic_msgs/DiagnosticArray`` directly, so RViz, Foxglove and
rqt_robot_monitor show the agent the same way on both.
"""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

try:  # pragma: no cover - depends on the install
    import diagnostic_updater  # type: ignore[import-not-found]
except ImportError:  # the PyPI wheels do not ship it
    diagnostic_updater = None

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass(frozen=True)
class HealthSample:
    """What the agent knows about its own health at one moment."""

    manager_linked: bool
    """The manager's subscription to our status topic is matched."""
    unacknowledged_events: int
    """Events published since the manager was last linked (held in the DDS history)."""
    event_buffer: int
    """Capacity of that history."""
    status_rate: float
    """Status reports per second actually sent over the last window."""
    expected_rate: float


def assess(sample: HealthSample) -> tuple[int, str]:
    """Return (level, message) for a health sample (plain logic, unit-tested)."""
    if sample.unacknowledged_events >= sample.event_buffer:
        return ERROR, 'event buffer full: the oldest events are being dropped'
    if not sample.manager_linked:
        return WARN, 'manager unreachable: buffering events'
    if sample.status_rate < 0.5 * sample.expected_rate:
        return WARN, f'status rate {sample.status_rate:.2f} Hz below {sample.expected_rate:g} Hz'
    return OK, 'linked to the manager'


def key_values(sample: HealthSample) -> list[KeyValue]:
    return [KeyValue(key='manager_linked', value=str(sample.manager_linked).lower()),
            KeyValue(key='buffered_events', value=str(sample.unacknowledged_events)),
            KeyValue(key='event_buffer', value=str(sample.event_buffer)),
            KeyValue(key='status_rate_hz', value=f'{sample.status_rate:.2f}'),
            KeyValue(key='expected_rate_hz', value=f'{sample.expected_rate:g}')]


class AgentHealth:
    """Publish the agent's health once a second under the name ``fleet_agent/<robot_id>``."""

    def __init__(self, node: Any, robot_id: str, sample: Callable[[], HealthSample],
                 topic: str = '/diagnostics') -> None:
        self._node = node
        self._sample = sample
        self.name = f'fleet_agent/{robot_id}'
        self._updater = None
        self._pub = None
        if diagnostic_updater is not None:
            self._updater = diagnostic_updater.Updater(node)
            self._updater.setHardwareID(robot_id)
            self._updater.add(self.name, self._fill)
        else:
            self._pub = node.create_publisher(DiagnosticArray, topic, 10)
            self._timer = node.create_timer(1.0, self._publish)

    def _fill(self, stat: Any) -> Any:  # diagnostic_updater's task signature
        level, message = assess(self._sample())
        stat.summary(level, message)
        for kv in key_values(self._sample()):
            stat.add(kv.key, kv.value)
        return stat

    def status(self) -> DiagnosticStatus:
        """The current health as a DiagnosticStatus."""
        sample = self._sample()
        level, message = assess(sample)
        return DiagnosticStatus(level=level, name=self.name, message=message,
                                hardware_id=self.name.split('/', 1)[1],
                                values=key_values(sample))

    def _publish(self) -> None:
        msg = DiagnosticArray(status=[self.status()])
        msg.header.stamp = self._node.get_clock().now().to_msg()
        assert self._pub is not None  # created with the timer that calls this
        self._pub.publish(msg)


class RateMeter:
    """Count events over a sliding window of ``window`` seconds (monotonic clock)."""

    def __init__(self, window: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self._window = window
        self._clock = clock
        self._times: list[float] = []

    def tick(self) -> None:
        now = self._clock()
        self._times.append(now)
        cutoff = now - self._window
        while self._times and self._times[0] < cutoff:
            self._times.pop(0)

    def rate(self) -> float:
        now = self._clock()
        recent = [t for t in self._times if t >= now - self._window]
        if len(recent) < 2:
            return float(len(recent)) / self._window
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)
