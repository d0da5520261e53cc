"""``fleet_demo``: the whole simulated fleet in one process, without ``ros2 launch``.

N simulated robots (each a simulated Nav2 base plus its fleet agent), the fleet manager
(configured and activated), the HTTP bridge and, unless disabled, a mission generator, all
in one executor. Runs until Ctrl-C or SIGTERM, then shuts down cleanly and closes the
database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys

import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from fleet_manager.core.config import load_fleet_config
from fleet_manager.core.errors import ConfigError
from fleet_manager.manager_node import FleetManager, default_fleet_config
from fleet_web.app import WebConfig, create_app, load_services
from fleet_web.errors import ConfigError as WebConfigError
from fleet_web.web_node import default_config as default_web_config
from fleet_web.ros_bridge import RosFleetBackend
from fleet_common.ros import SpinThread
from fleet_web.runtime import init_ros, serve, stop_on_signals
from fleet_sim.feeder import MissionFeeder
from fleet_sim.robots import SimulatedRobot


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_demo',
        description='Run the simulated fleet: robots, agents, fleet manager and HTTP bridge '
                    'in one process, until Ctrl-C or SIGTERM.')
    p.add_argument('--robots', type=int, default=5, help='number of simulated robots '
                   '(default: %(default)s)')
    p.add_argument('--host', default='127.0.0.1', help='HTTP address (default: %(default)s)')
    p.add_argument('--port', type=int, default=8080, help='HTTP port (default: %(default)s)')
    p.add_argument('--missions', type=int, choices=(0, 1), default=1,
                   help='1 feeds generated missions, 0 leaves the fleet idle (default: 1)')
    p.add_argument('--database', default='demo/fleet.db',
                   help='fleet store path (default: %(default)s)')
    p.add_argument('--fleet-config', default='', help='fleet definition YAML '
                   '(default: the installed config/fleet.yaml)')
    p.add_argument('--web-config', default='', help='bridge config YAML (API keys, '
                   'webhooks, rate limit; default: the installed config/web.yaml)')
    p.add_argument('--speed', type=float, default=1.0, help='robot speed in m/s '
                   '(default: %(default)s)')
    return p


def main(argv: list[str] | None = None) -> None:
    """Run the demo."""
    args = build_parser().parse_args(argv)
    if not 1 <= args.robots <= 500:
        print('fleet_demo: --robots must be between 1 and 500', file=sys.stderr)
        raise SystemExit(2)
    fleet_path = args.fleet_config or default_fleet_config()
    try:
        fleet = load_fleet_config(fleet_path)
    except ConfigError as exc:
        print(f'fleet_demo: {exc}', file=sys.stderr)
        raise SystemExit(2)

    # The demo's admin token: FLEET_TOKEN when set, otherwise a fresh one, printed below.
    token = os.environ.get('FLEET_TOKEN') or secrets.token_urlsafe(24)
    os.environ['FLEET_TOKEN'] = token
    try:
        services = load_services(args.web_config or default_web_config(),
                                 os.path.join(os.path.dirname(os.path.abspath(args.database)),
                                              'fleet_web.db'))
    except WebConfigError as exc:
        print(f'fleet_demo: {exc}', file=sys.stderr)
        raise SystemExit(2)

    init_ros()
    manager = FleetManager(parameter_overrides=[
        Parameter('database', value=os.path.abspath(args.database)),
        Parameter('fleet_config', value=os.path.abspath(fleet_path))])
    if manager.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        print('fleet_demo: the fleet manager refused its configuration (see the log above)',
              file=sys.stderr)
        manager.destroy_node()
        rclpy.try_shutdown()
        raise SystemExit(1)
    manager.trigger_activate()

    robots = []
    for i in range(1, args.robots + 1):
        rid = f'robot{i}'
        spec = fleet.spec_for(rid)
        dock = fleet.docks.get(spec.dock)
        x, y, th = (dock.x, dock.y, dock.theta) if dock else (float(i), 0.0, 0.0)
        robots.append(SimulatedRobot(rid, x, y, th, sim_overrides={'speed': args.speed}))
    web_node = RosFleetBackend()
    extra = [MissionFeeder(fleet, seed=7)] if args.missions else []

    spinner = SpinThread([manager, web_node, *extra])
    for r in robots:
        r.attach(spinner.executor)
    spinner.start()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        web_node.attach(loop)
        stop = asyncio.Event()
        stop_on_signals(loop, stop)
        app = create_app(WebConfig(host=args.host, port=args.port), web_node, services)

        def banner() -> None:
            base = f'http://{args.host}:{args.port}'
            print(f'\nFleet demo running: {args.robots} simulated robots, '
                  f'missions {"on" if args.missions else "off"}.\n'
                  f'  dashboard: {base}/?token={token}\n'
                  f'  token:   export FLEET_TOKEN={token}\n'
                  f'  robots:  curl -H "Authorization: Bearer $FLEET_TOKEN" '
                  f'{base}/api/v1/robots\n'
                  f'  events:  curl -H "Authorization: Bearer $FLEET_TOKEN" '
                  f'{base}/api/v1/events\n'
                  f'  metrics: {base}/metrics\n'
                  f'  API doc: {base}/api/v1/openapi.json\n'
                  f'  store:   {os.path.abspath(args.database)}\n'
                  'Ctrl-C to stop.', flush=True)
        await serve(app, args.host, args.port, stop, banner)

    code = 0
    try:
        asyncio.run(run())
    except OSError as exc:
        print(f'fleet_demo: cannot serve on {args.host}:{args.port}: {exc.strerror}',
              file=sys.stderr)
        code = 1
    finally:
        print('fleet_demo: stopping...', flush=True)
        spinner.stop()  # no node may leave an executor while it spins
        for r in robots:
            r.detach()
        manager.close()
        for n in (web_node, manager, *extra):
            n.destroy_node()
        rclpy.try_shutdown()
        print(f'fleet_demo: stopped; database closed ({os.path.abspath(args.database)})',
              flush=True)
    raise SystemExit(code)


if __name__ == '__main__':
    main()
