"""The simulator's software installer: what the agent runs to "install" a release.

``python -m fleet_sim.installer --robot robot1 --version 1.1.0`` does to a simulated robot
what a container pull and restart does to a real one:

1. takes the robot off the network (``fault: offline`` on ``/<robot>/sim``: its agent's
   link to the manager is cut, as while a robot reboots),
2. switches its ``software_version`` parameter to the release,
3. waits ``--restart-seconds``, then puts the previous ``fault`` back (the robot is online
   again), and exits 0.

It talks to the simulated base through its real parameter services. Exit codes: 0 done,
1 the robot's parameter service did not answer or refused, 2 usage error. Configure an
agent with it as::

    installer_command: "{python} -m fleet_sim.installer --robot {robot_id} --version {version}"
    version_source: "sim:software_version"
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rcl_interfaces.srv import GetParameters, SetParameters
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python

SERVICE_WAIT = 10.0
"""s to wait for the simulated base's parameter services."""
CALL_TIMEOUT = 5.0
"""s to wait for each parameter call."""


class InstallError(RuntimeError):
    """The simulated robot could not be updated; the message says why."""


class SimInstaller:
    """Parameter calls to one simulated base (``/<robot>/sim``)."""

    def __init__(self, robot_id: str, context: Context,
                 service_wait: float = SERVICE_WAIT) -> None:
        self.service_wait = service_wait
        self.node = Node(f'sim_installer_{robot_id}', context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        target = f'/{robot_id}/sim'
        self._set = self.node.create_client(SetParameters, f'{target}/set_parameters')
        self._get = self.node.create_client(GetParameters, f'{target}/get_parameters')
        self.target = target

    def _call(self, client: Any, request: Any) -> Any:
        if not client.wait_for_service(timeout_sec=self.service_wait):
            raise InstallError(f'{client.srv_name} did not appear within '
                               f'{self.service_wait:g} s')
        future = client.call_async(request)
        self.executor.spin_until_future_complete(future, timeout_sec=CALL_TIMEOUT)
        if not future.done() or future.result() is None:
            raise InstallError(f'{client.srv_name} did not answer within {CALL_TIMEOUT:g} s')
        return future.result()

    def get(self, name: str) -> Any:
        """One parameter of the simulated base."""
        resp = self._call(self._get, GetParameters.Request(names=[name]))
        return parameter_value_to_python(resp.values[0])

    def set(self, **values: Any) -> None:
        """Set parameters of the simulated base; InstallError when one is refused."""
        resp = self._call(self._set, SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]))
        for name, result in zip(values, resp.results):
            if not result.successful:
                raise InstallError(f'{self.target} refused {name}: {result.reason}')

    def close(self) -> None:
        """Release the node."""
        self.executor.remove_node(self.node)
        self.node.destroy_node()


def install(robot_id: str, version: str, restart_seconds: float, context: Context,
            service_wait: float = SERVICE_WAIT) -> str:
    """Switch the robot to ``version`` through a modelled restart; return what was done."""
    installer = SimInstaller(robot_id, context, service_wait)
    try:
        fault = installer.get('fault') or 'none'
        previous = installer.get('software_version')
        installer.set(fault='offline')
        installer.set(software_version=version)
        time.sleep(restart_seconds)  # the restart being modelled: nothing to wait for
        installer.set(fault=fault if fault != 'offline' else 'none')
        return f'{robot_id}: {previous} -> {version}'
    finally:
        installer.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_sim_install',
        description='Install a release on a simulated robot: take it off the network, '
                    'switch its software_version, bring it back (see fleet_sim.installer).')
    p.add_argument('--robot', required=True, help='robot id (the simulated base is '
                   '/<robot>/sim)')
    p.add_argument('--version', required=True, help='the release to switch to')
    p.add_argument('--artifact', default='', help='the release artifact (logged only)')
    p.add_argument('--restart-seconds', type=float, default=1.0,
                   help='how long the robot stays off the network (default: %(default)s)')
    p.add_argument('--service-wait', type=float, default=SERVICE_WAIT,
                   help='seconds to wait for the robot\'s parameter services (default: '
                        '%(default)s)')
    return p


def main(argv: list[str] | None = None) -> None:
    """Run one install; exit 0 when done, 1 when the robot could not be updated."""
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.restart_seconds <= 600.0:
        print('fleet_sim_install: --restart-seconds must be between 0 and 600', file=sys.stderr)
        raise SystemExit(2)
    context = Context()
    rclpy.init(context=context)
    try:
        done = install(args.robot, args.version, args.restart_seconds, context,
                       args.service_wait)
        print(f'installed {args.artifact or args.version}: {done}', flush=True)
    except InstallError as exc:
        print(f'fleet_sim_install: {exc}', file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        rclpy.try_shutdown(context=context)


if __name__ == '__main__':
    main()
