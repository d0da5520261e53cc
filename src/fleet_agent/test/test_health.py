"""The agent's own health: plain assessment, and its DiagnosticArray over real DDS."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

from fleet_agent.agent_node import FleetAgent
from fleet_agent.health import HealthSample, RateMeter, assess
from fleet_testing import Collector, RosGraph, wait_for


def test_assess_levels() -> None:
    assert assess(HealthSample(True, 0, 1000, 1.0, 1.0)) == (DiagnosticStatus.OK,
                                                              'linked to the manager')
    assert assess(HealthSample(False, 3, 1000, 1.0, 1.0))[0] == DiagnosticStatus.WARN
    assert assess(HealthSample(True, 0, 1000, 0.4, 1.0))[0] == DiagnosticStatus.WARN
    assert assess(HealthSample(False, 1000, 1000, 1.0, 1.0))[0] == DiagnosticStatus.ERROR


def test_rate_meter() -> None:
    now = [0.0]
    meter = RateMeter(window=10.0, clock=lambda: now[0])
    for _ in range(6):
        meter.tick()
        now[0] += 0.5
    assert abs(meter.rate() - 2.0) < 1e-9
    now[0] += 20.0
    assert meter.rate() == 0.0


def test_agent_publishes_its_health_without_a_manager() -> None:
    graph = RosGraph()
    try:
        graph.add(FleetAgent(robot_id='health_bot', context=graph.context))
        seen = Collector(graph.node('diag_listener'), DiagnosticArray, '/diagnostics')

        def mine() -> DiagnosticStatus | None:
            for msg in reversed(seen.snapshot()):
                for st in msg.status:
                    if st.name == 'fleet_agent/health_bot':
                        return st
            return None
        status = wait_for(mine, timeout=10, message='the agent health status')
        assert status.level == DiagnosticStatus.WARN
        assert 'manager unreachable' in status.message
        values = {kv.key: kv.value for kv in status.values}
        assert values['manager_linked'] == 'false' and values['event_buffer'] == '100000'
    finally:
        graph.close()
