"""End to end: the bridge's /health tells a manager that is deactivated (it answers, but is
not active: ``ros2 lifecycle set /fleet_manager deactivate``) from one that is gone.

Processes: the manager and the bridge; the lifecycle transitions are requested over ROS from
this test, as ``ros2 lifecycle set`` does.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from fleet_testing import REPO, Proc, RosGraph, fleet_env, free_port, get_json, http, wait_for

TOKEN = 'health-test-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def change_state(graph: RosGraph, client: Any, transition: int) -> None:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    resp = graph.call(client, ChangeState.Request(transition=Transition(id=transition)), 20)
    assert resp.success, transition


def test_health_tells_inactive_from_unreachable(tmp_path: pathlib.Path) -> None:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    env = fleet_env(FLEET_TOKEN=TOKEN)
    port = free_port()
    base = f'http://127.0.0.1:{port}/api/v1'
    manager = Proc('manager', [
        '-m', 'fleet_manager.manager_node', '--ros-args', '-p',
        f'database:={tmp_path / "fleet.db"}', '-p',
        f'fleet_config:={REPO / "src" / "fleet_bringup" / "config" / "fleet.yaml"}'],
        tmp_path, env)
    bridge = Proc('web', ['-m', 'fleet_web.web_node', '--port', str(port), '--state',
                          str(tmp_path / 'web.db'), '--timeout', '2'], tmp_path, env)
    graph = RosGraph()
    try:
        def health() -> dict[str, Any]:
            return get_json(f'{base}/health') or {}
        wait_for(lambda: health().get('manager') == 'reachable', 60, 0.2,
                 message='the manager reachable')
        assert health()['manager_state'] == 'active'
        client = graph.node('lifecycle_cli').create_client(ChangeState,
                                                           '/fleet_manager/change_state')
        change_state(graph, client, Transition.TRANSITION_DEACTIVATE)
        wait_for(lambda: health().get('manager') == 'inactive', 30, 0.2,
                 message='/health showing the manager inactive')
        assert health()['manager_state'] == 'inactive'
        status, body, _ = http('GET', f'{base}/missions', headers=AUTH)
        assert status == 503 and body['error']['code'] == 'not_active', body
        change_state(graph, client, Transition.TRANSITION_ACTIVATE)
        wait_for(lambda: health().get('manager') == 'reachable', 30, 0.2,
                 message='/health showing the manager active again')
        assert manager.stop() == 0, manager.tail()
        wait_for(lambda: health().get('manager') == 'unreachable', 30, 0.2,
                 message='/health showing the manager gone')
        assert health()['manager_state'] == 'unreachable'
    finally:
        graph.close()
        codes = {p.name: p.stop() for p in (bridge, manager)}
        assert codes['web'] == 0, bridge.tail()
        assert 'Traceback' not in bridge.output(), bridge.tail()
