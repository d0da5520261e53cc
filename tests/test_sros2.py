"""ROS graph security (SROS2): the keystore script's enclaves and permissions, and, where the
RMW has the DDS Security plugins, that an unauthenticated participant cannot submit a mission.

The PyPI wheels' Fast DDS is built without them: rmw_fastrtps refuses to create a node with
security enabled ("This Fast DDS version doesn't have the security libraries"). The
enforcement test probes for exactly that and is skipped with the RMW's own words; on a ROS
install whose Fast DDS has security, it runs.
"""

from __future__ import annotations

import fnmatch
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Iterator
import xml.etree.ElementTree as ET

import pytest

from fleet_testing import REPO, Proc, fleet_env, wait_for

pytestmark = pytest.mark.skipif(shutil.which('openssl') is None, reason='openssl is needed')

SCRIPT = REPO / 'scripts' / 'sros2_keystore.py'
ROBOTS = ('robot1', 'robot2')
WRITE = ('submit_mission', 'cancel_mission', 'set_robot_service', 'robot_command',
         'ack_incident', 'resolve_incident', 'incident_ops', 'desired_state', 'rollouts',
         'log_bridge_event')
MANAGER_SOURCES = REPO / 'src' / 'fleet_manager' / 'fleet_manager'


@pytest.fixture(scope='module')
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    root = tmp_path_factory.mktemp('sros2') / 'keystore'
    done = subprocess.run([sys.executable, str(SCRIPT), str(root), '--robots', *ROBOTS],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    yield root


def grants(keystore: pathlib.Path) -> dict[str, dict[str, set[str]]]:
    """enclave -> {'publish': topics, 'subscribe': topics}, read back from permissions.xml."""
    out: dict[str, dict[str, set[str]]] = {}
    for xml in (keystore / 'enclaves').rglob('permissions.xml'):
        grant = ET.parse(xml).getroot().find('permissions/grant')
        assert grant is not None
        enclave = grant.get('name', '')
        assert grant.findtext('subject_name') == f'CN={enclave}'
        assert grant.findtext('default') == 'DENY'
        out[enclave] = {kind: {t.text or '' for t in grant.iterfind(f'allow_rule/{kind}/'
                                                                  'topics/topic')}
                        for kind in ('publish', 'subscribe')}
    return out


def allowed(patterns: set[str], topic: str) -> bool:
    """True when a DDS permissions pattern (fnmatch, as DDS Security's) matches the topic."""
    return any(fnmatch.fnmatchcase(topic, pattern) for pattern in patterns)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(['openssl', *args], capture_output=True, text=True, timeout=60)


def test_one_enclave_per_node_with_a_certificate_and_signed_documents(
        keystore: pathlib.Path) -> None:
    ca = keystore / 'public' / 'ca.cert.pem'
    expected = {'/fleet/manager', '/fleet/bridge', '/fleet/operator', '/fleet/sim',
                *(f'/fleet/agent/{r}' for r in ROBOTS)}
    assert set(grants(keystore)) == expected
    for enclave in expected:
        where = keystore / 'enclaves' / enclave.strip('/')
        files = {p.name for p in where.iterdir()}
        assert files >= {'cert.pem', 'key.pem', 'identity_ca.cert.pem', 'governance.p7s',
                         'permissions_ca.cert.pem', 'permissions.xml', 'permissions.p7s'}
        assert openssl('verify', '-CAfile', str(ca), str(where / 'cert.pem')).returncode == 0
        subject = openssl('x509', '-in', str(where / 'cert.pem'), '-noout', '-subject').stdout
        assert enclave in subject
        for signed in ('permissions.p7s', 'governance.p7s'):
            done = openssl('smime', '-verify', '-in', str(where / signed), '-CAfile', str(ca),
                           '-out', '/dev/null')
            assert done.returncode == 0, (enclave, signed, done.stderr)
        assert (where / 'key.pem').stat().st_mode & 0o077 == 0  # private keys: owner only
    governance = (keystore / 'enclaves' / 'governance.xml').read_text()
    assert '<allow_unauthenticated_participants>false' in governance
    assert '<enable_join_access_control>true' in governance


def manager_service_names() -> set[str]:
    """Every fleet/<name> service the manager's sources create (the services table and the
    features' create_service calls)."""
    import re
    pattern = re.compile(r"(?:create_service\(|^\s*\()\w+, 'fleet/(\w+)'", re.MULTILINE)
    return {m for path in MANAGER_SOURCES.glob('*.py') for m in pattern.findall(
        path.read_text())}


def test_the_bridge_may_call_every_service_the_manager_serves(
        keystore: pathlib.Path) -> None:
    table = grants(keystore)
    services = manager_service_names()
    assert {'list_robots', 'submit_mission', 'site', 'rollouts'} <= services
    for service in sorted(services):
        request, reply = f'rq/fleet/{service}Request', f'rr/fleet/{service}Reply'
        assert allowed(table['/fleet/bridge']['publish'], request), service
        assert allowed(table['/fleet/bridge']['subscribe'], reply), service
        assert allowed(table['/fleet/manager']['subscribe'], request), service
        assert allowed(table['/fleet/manager']['publish'], reply), service


def test_only_the_bridge_calls_write_services_and_only_agents_publish_robot_reports(
        keystore: pathlib.Path) -> None:
    table = grants(keystore)
    for service in WRITE:
        request = f'rq/fleet/{service}Request'
        callers = {e for e, g in table.items() if allowed(g['publish'], request)}
        assert callers == {'/fleet/bridge'}, (service, callers)
        servers = {e for e, g in table.items() if allowed(g['subscribe'], request)}
        assert servers == {'/fleet/manager'}, (service, servers)
    for topic in ('rt/fleet/robot_status', 'rt/fleet/robot_events'):
        publishers = {e for e, g in table.items() if allowed(g['publish'], topic)}
        assert publishers == {f'/fleet/agent/{r}' for r in ROBOTS}, (topic, publishers)
        assert {e for e, g in table.items() if allowed(g['subscribe'], topic)} == {
            '/fleet/manager'}
    for topic in ('rt/fleet/robot_commands', 'rt/fleet/robot_acks'):
        assert {e for e, g in table.items() if allowed(g['publish'], topic)} == {
            '/fleet/manager'}
    operator = table['/fleet/operator']['publish']
    assert 'rq/fleet_manager/change_stateRequest' in operator
    assert not any(t.startswith('rq/fleet/') for t in operator)


def security_probe(keystore: pathlib.Path, domain: str) -> str | None:
    """Create a node with security enforced in a child; return why security cannot work
    here (the RMW's own message), or None when it can."""
    code = ('import rclpy\n'
            "rclpy.init(args=['--ros-args', '--enclave', '/fleet/operator'])\n"
            "rclpy.create_node('sros2_probe').destroy_node()\n"
            'rclpy.shutdown()\n')
    env = fleet_env(ROS_SECURITY_KEYSTORE=str(keystore), ROS_SECURITY_ENABLE='true',
                    ROS_SECURITY_STRATEGY='Enforce', ROS_DOMAIN_ID=domain)
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=env, timeout=60)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if 'security' in line.lower()]
    return ' '.join(lines[-2:]).strip() or done.stderr.strip()[-300:]


def test_an_unauthenticated_participant_cannot_submit_a_mission(
        keystore: pathlib.Path, tmp_path: pathlib.Path) -> None:
    domain = os.environ.get('ROS_DOMAIN_ID', '0')
    reason = security_probe(keystore, domain)
    if reason is not None:
        pytest.skip(f'the RMW has no DDS Security here: {reason}')
    secure = fleet_env(ROS_SECURITY_KEYSTORE=str(keystore), ROS_SECURITY_ENABLE='true',
                       ROS_SECURITY_STRATEGY='Enforce')
    manager = Proc('manager', ['-m', 'fleet_manager.manager_node', '--ros-args', '--enclave',
                               '/fleet/manager', '-p', f'database:={tmp_path / "fleet.db"}'],
                   tmp_path, secure)
    bridge_probe = ('import rclpy, sys\n'
                    'from fleet_msgs.srv import SubmitMission\n'
                    "rclpy.init(args=['--ros-args', '--enclave', '/fleet/bridge'])\n"
                    "n = rclpy.create_node('fleet_web')\n"
                    "c = n.create_client(SubmitMission, '/fleet/submit_mission')\n"
                    'sys.exit(0 if c.wait_for_service(timeout_sec=30) else 3)\n')
    try:
        done = subprocess.run([sys.executable, '-c', bridge_probe], env=secure, timeout=90,
                              capture_output=True, text=True)
        assert done.returncode == 0, f'the bridge enclave cannot reach the manager: ' \
                                     f'{done.stderr[-2000:]}\n{manager.tail()}'
        import rclpy
        from rclpy.context import Context

        from fleet_msgs.srv import SubmitMission
        context = Context()
        rclpy.init(context=context)  # no security: an unauthenticated participant
        try:
            node = rclpy.create_node('intruder', context=context)
            client = node.create_client(SubmitMission, '/fleet/submit_mission')
            assert not client.wait_for_service(timeout_sec=10.0)
            assert '/fleet/submit_mission' not in {
                name for name, _ in node.get_service_names_and_types()}
            node.destroy_node()
        finally:
            rclpy.try_shutdown(context=context)
        wait_for(manager.alive, 1.0, message='the manager still running')
    finally:
        assert manager.stop() == 0, manager.tail()
