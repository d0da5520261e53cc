#!/usr/bin/env python3
"""Create an SROS2 keystore for the fleet suite: one CA, one enclave per node, and DDS
Security permissions that say who may talk to whom on the ROS graph.

``ros2 security`` (the sros2 package) is not part of the PyPI wheels this suite runs on, so
this script writes the same files with the ``openssl`` command line, in the layout rcl reads
(``$ROS_SECURITY_KEYSTORE/enclaves/<enclave>/``)::

    keystore/public/ca.cert.pem            the CA (identity and permissions CA alike)
    keystore/private/ca.key.pem            its key: keep it off the robots
    keystore/enclaves/governance.xml/.p7s  every topic authenticated, encrypted, access-checked
    keystore/enclaves/fleet/<node>/        cert.pem, key.pem, identity_ca.cert.pem,
                                           permissions_ca.cert.pem, governance.p7s,
                                           permissions.xml, permissions.p7s

The policy (:data:`POLICY`):

* ``/fleet/manager`` serves every ``fleet/*`` service and its lifecycle services, reads robot
  status and events, and publishes commands, acks and the fleet topics;
* ``/fleet/bridge`` is the only enclave allowed to call the manager's services, the write
  services (submit and cancel missions, service changes, robot commands, incident actions)
  among them;
* ``/fleet/agent/<robot>`` (one per robot) are the only enclaves allowed to publish robot
  status and robot events;
* ``/fleet/operator`` may read the fleet topics and drive the manager's lifecycle
  (``ros2 lifecycle set /fleet_manager ...``), nothing else;
* ``/fleet/sim`` is the simulator (``fleet_sim``): the robots' own topics and Nav2 actions.

Run::

    python3 scripts/sros2_keystore.py keystore --robots robot1 robot2

then start each node with ``ROS_SECURITY_KEYSTORE=$PWD/keystore ROS_SECURITY_ENABLE=true
ROS_SECURITY_STRATEGY=Enforce`` and ``--ros-args --enclave /fleet/manager`` (and so on).
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import shutil
import subprocess
import sys
import tempfile
from typing import Iterable, Sequence
from xml.sax.saxutils import escape

DAYS = 3650
"""Validity of the CA and the enclave certificates (days)."""

READ_SERVICES = ('list_robots', 'get_events', 'get_mission', 'list_missions',
                 'list_incidents', 'get_incident', 'get_telemetry', 'get_report', 'site',
                 'audit')
WRITE_SERVICES = ('submit_mission', 'cancel_mission', 'set_robot_service', 'robot_command',
                  'ack_incident', 'resolve_incident', 'incident_ops', 'desired_state',
                  'rollouts', 'log_bridge_event')
LIFECYCLE_SERVICES = ('get_state', 'change_state', 'get_available_states',
                      'get_available_transitions', 'get_transition_graph')
FLEET_TOPICS = ('events', 'robots', 'summary', 'missions', 'incidents', 'markers')
AGENT_TOPICS = ('robot_status', 'robot_events')
MANAGER_TOPICS = ('robot_commands', 'robot_acks')
COMMON_PUBLISH = ('rt/rosout', 'rt/parameter_events', 'ros_discovery_info')
COMMON_SUBSCRIBE = ('rt/parameter_events', 'ros_discovery_info')


def _serves(services: Iterable[str]) -> tuple[list[str], list[str]]:
    """(publish, subscribe) topics of a server of ``services`` (ROS names)."""
    names = list(services)
    return [f'rr/{n}Reply' for n in names], [f'rq/{n}Request' for n in names]


def _calls(services: Iterable[str]) -> tuple[list[str], list[str]]:
    """(publish, subscribe) topics of a client of ``services`` (ROS names)."""
    names = list(services)
    return [f'rq/{n}Request' for n in names], [f'rr/{n}Reply' for n in names]


def _own_node(node: str) -> tuple[list[str], list[str]]:
    """A node's own parameter services (rclpy creates them for every node)."""
    return _serves([f'{node}/*'])


def _grant(publish: Iterable[str], subscribe: Iterable[str],
           node: str | None = None) -> dict[str, list[str]]:
    pub, sub = list(COMMON_PUBLISH) + list(publish), list(COMMON_SUBSCRIBE) + list(subscribe)
    if node is not None:
        own_pub, own_sub = _own_node(node)
        pub += own_pub
        sub += own_sub
    return {'publish': sorted(set(pub)), 'subscribe': sorted(set(sub))}


def policy(robots: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """Return enclave -> {'publish': [...], 'subscribe': [...]} (DDS topic names)."""
    manager_services = [f'fleet/{s}' for s in READ_SERVICES + WRITE_SERVICES]
    lifecycle = [f'fleet_manager/{s}' for s in LIFECYCLE_SERVICES]
    serve_pub, serve_sub = _serves(manager_services + lifecycle)
    call_pub, call_sub = _calls(manager_services + ['fleet_manager/get_state'])
    ops_pub, ops_sub = _calls(lifecycle)
    fleet_topics = [f'rt/fleet/{t}' for t in FLEET_TOPICS]
    out = {
        '/fleet/manager': _grant(
            serve_pub + fleet_topics + [f'rt/fleet/{t}' for t in MANAGER_TOPICS]
            + ['rt/fleet_manager/transition_event'],
            serve_sub + [f'rt/fleet/{t}' for t in AGENT_TOPICS], 'fleet_manager'),
        '/fleet/bridge': _grant(call_pub, call_sub + ['rt/fleet/robots', 'rt/fleet/events'],
                                'fleet_web'),
        '/fleet/operator': _grant(ops_pub, ops_sub + fleet_topics
                                  + ['rt/fleet_manager/transition_event']),
        '/fleet/sim': _grant(['rt/*/odom', 'rt/*/battery_state', 'rt/*/diagnostics',
                              'rt/*/_action/*', 'rr/*/_action/*', 'rr/*/sim/*'],
                             ['rq/*/_action/*', 'rq/*/sim/*', 'rt/*/cmd_vel']),
    }
    for robot in robots:
        out[f'/fleet/agent/{robot}'] = _grant(
            [f'rt/fleet/{t}' for t in AGENT_TOPICS] + [f'rq/{robot}/*/_action/*',
                                                        f'rt/{robot}/diagnostics'],
            [f'rt/fleet/{t}' for t in MANAGER_TOPICS] + [
                f'rt/{robot}/odom', f'rt/{robot}/battery_state', f'rt/{robot}/diagnostics',
                f'rr/{robot}/*/_action/*', f'rt/{robot}/*/_action/*'], f'{robot}/*')
    return out


GOVERNANCE = '''<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="http://www.omg.org/spec/DDS-SECURITY/20170901/omg_shared_ca_governance.xsd">
  <domain_access_rules>
    <domain_rule>
      <domains><id_range><min>0</min><max>230</max></id_range></domains>
      <allow_unauthenticated_participants>false</allow_unauthenticated_participants>
      <enable_join_access_control>true</enable_join_access_control>
      <discovery_protection_kind>ENCRYPT</discovery_protection_kind>
      <liveliness_protection_kind>ENCRYPT</liveliness_protection_kind>
      <rtps_protection_kind>SIGN</rtps_protection_kind>
      <topic_access_rules>
        <topic_rule>
          <topic_expression>*</topic_expression>
          <enable_discovery_protection>true</enable_discovery_protection>
          <enable_liveliness_protection>true</enable_liveliness_protection>
          <enable_read_access_control>true</enable_read_access_control>
          <enable_write_access_control>true</enable_write_access_control>
          <metadata_protection_kind>ENCRYPT</metadata_protection_kind>
          <data_protection_kind>ENCRYPT</data_protection_kind>
        </topic_rule>
      </topic_access_rules>
    </domain_rule>
  </domain_access_rules>
</dds>
'''


def permissions_xml(enclave: str, grant: dict[str, list[str]], start: dt.datetime,
                    days: int = DAYS) -> str:
    """Return the DDS permissions document of one enclave (default DENY)."""
    end = start + dt.timedelta(days=days)
    stamp = '%Y-%m-%dT%H:%M:%S'

    def topics(names: list[str]) -> str:
        return ''.join(f'\n              <topic>{escape(n)}</topic>' for n in names)
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="http://www.omg.org/spec/DDS-SECURITY/20170901/omg_shared_ca_permissions.xsd">
  <permissions>
    <grant name="{escape(enclave)}">
      <subject_name>CN={escape(enclave)}</subject_name>
      <validity>
        <not_before>{start.strftime(stamp)}</not_before>
        <not_after>{end.strftime(stamp)}</not_after>
      </validity>
      <allow_rule>
        <domains><id_range><min>0</min><max>230</max></id_range></domains>
        <publish>
          <topics>{topics(grant['publish'])}
          </topics>
        </publish>
        <subscribe>
          <topics>{topics(grant['subscribe'])}
          </topics>
        </subscribe>
      </allow_rule>
      <default>DENY</default>
    </grant>
  </permissions>
</dds>
'''


def openssl(*args: str) -> None:
    """Run openssl; SystemExit with its message when it fails."""
    done = subprocess.run(['openssl', *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f'openssl {args[0]} failed: {done.stderr.strip()}')


def make_key(path: pathlib.Path) -> None:
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', str(path))
    path.chmod(0o600)


def sign_smime(source: pathlib.Path, target: pathlib.Path, cert: pathlib.Path,
               key: pathlib.Path) -> None:
    """S/MIME-sign a document (detached, text), as sros2 does."""
    openssl('smime', '-sign', '-text', '-in', str(source), '-out', str(target),
            '-signer', str(cert), '-inkey', str(key))


def create_ca(root: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Create the keystore's CA (once); return (cert, key)."""
    public, private = root / 'public', root / 'private'
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    cert, key = public / 'ca.cert.pem', private / 'ca.key.pem'
    if not cert.exists():
        make_key(key)
        openssl('req', '-new', '-x509', '-key', str(key), '-out', str(cert), '-days',
                str(DAYS), '-sha256', '-subj', '/CN=fleet sros2 CA')
        for role in ('identity_ca', 'permissions_ca'):
            shutil.copy(cert, public / f'{role}.cert.pem')
            shutil.copy(key, private / f'{role}.key.pem')
    return cert, key


def create_enclave(root: pathlib.Path, enclave: str, grant: dict[str, list[str]],
                   cert: pathlib.Path, key: pathlib.Path) -> pathlib.Path:
    """Create (or renew the permissions of) one enclave; return its directory."""
    where = root / 'enclaves' / enclave.strip('/')
    where.mkdir(parents=True, exist_ok=True)
    if not (where / 'cert.pem').exists():
        make_key(where / 'key.pem')
        with tempfile.TemporaryDirectory() as tmp:
            csr = pathlib.Path(tmp) / 'req.csr'
            openssl('req', '-new', '-key', str(where / 'key.pem'), '-out', str(csr),
                    '-subj', '/CN=' + enclave.replace('/', '\\/'))
            openssl('x509', '-req', '-in', str(csr), '-CA', str(cert), '-CAkey', str(key),
                    '-CAcreateserial', '-CAserial', str(pathlib.Path(tmp) / 'ca.srl'),
                    '-days', str(DAYS), '-sha256', '-out', str(where / 'cert.pem'))
    for name in ('identity_ca', 'permissions_ca'):
        shutil.copy(cert, where / f'{name}.cert.pem')
    shutil.copy(root / 'enclaves' / 'governance.p7s', where / 'governance.p7s')
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
    (where / 'permissions.xml').write_text(permissions_xml(enclave, grant, start))
    sign_smime(where / 'permissions.xml', where / 'permissions.p7s', cert, key)
    return where


def create_keystore(root: pathlib.Path, robots: Sequence[str]) -> dict[str, pathlib.Path]:
    """Create the CA, the governance and every enclave of :func:`policy`; return
    enclave -> directory. Existing keys are kept; permissions are rewritten."""
    if shutil.which('openssl') is None:
        raise SystemExit('openssl is required (apt-get install openssl)')
    cert, key = create_ca(root)
    enclaves = root / 'enclaves'
    enclaves.mkdir(exist_ok=True)
    (enclaves / 'governance.xml').write_text(GOVERNANCE)
    sign_smime(enclaves / 'governance.xml', enclaves / 'governance.p7s', cert, key)
    return {name: create_enclave(root, name, grant, cert, key)
            for name, grant in policy(robots).items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and create the keystore."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('keystore', type=pathlib.Path, help='directory of the keystore')
    parser.add_argument('--robots', nargs='*', default=['robot1', 'robot2'],
                        help='robot ids: one agent enclave each (default: %(default)s)')
    args = parser.parse_args(argv)
    for name, where in create_keystore(args.keystore, args.robots).items():
        print(f'{name}: {where}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
