"""``fleet_web``: the HTTP bridge process (an aiohttp app that is also an rclpy node)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import rclpy

from fleet_common.paths import config_file
from fleet_common.ros import SpinThread
from fleet_web.app import BridgeServices, create_app, load_services
from fleet_web.errors import ConfigError
from fleet_web.ros_bridge import RosFleetBackend
from fleet_web.runtime import init_ros, serve, stop_on_signals
from fleet_web.settings import web_config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_web',
        description='HTTP bridge of the fleet suite: REST API, event stream, webhooks, '
                    'metrics and dashboard, talking to the fleet manager over ROS 2.')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to listen on (default: %(default)s)')
    p.add_argument('--port', type=int, default=8080, help='TCP port (default: %(default)s)')
    p.add_argument('--config', default='', help='bridge config YAML (API keys, webhooks, rate '
                   'limits); default: the installed config/web.yaml')
    p.add_argument('--state', default='fleet_web.db',
                   help='the bridge\'s own SQLite database: webhook outbox and event-log '
                   'cursor (default: %(default)s)')
    p.add_argument('--timeout', type=float, default=5.0,
                   help='seconds to wait for the manager per call before answering 503 '
                   '(default: %(default)s)')
    return p


def default_config() -> str:
    """Return the shipped config/web.yaml (fleet_bringup's)."""
    return config_file('web.yaml')


async def _run(args: argparse.Namespace, node: RosFleetBackend,
               services: BridgeServices) -> None:
    loop = asyncio.get_running_loop()
    node.attach(loop)
    stop = asyncio.Event()
    stop_on_signals(loop, stop)
    app = create_app(web_config(services, host=args.host, port=args.port), node, services)
    await serve(app, args.host, args.port, stop,
                lambda: print(f'fleet_web: serving http://{args.host}:{args.port}/', flush=True))


def main(argv: list[str] | None = None) -> None:
    """Run the bridge until Ctrl-C or SIGTERM."""
    ros_args = rclpy.utilities.remove_ros_args(argv if argv is not None else sys.argv)
    args = build_parser().parse_args(ros_args[1:])
    try:
        services = load_services(args.config or default_config(), args.state)
    except ConfigError as exc:
        print(f'fleet_web: {exc}', file=sys.stderr)
        raise SystemExit(2) from None
    if not services.keys.names():
        print('fleet_web: no API keys configured (config api_keys or FLEET_TOKEN): every '
              'protected route will answer 401', file=sys.stderr)
    init_ros(argv)
    node = RosFleetBackend(timeout=args.timeout)
    # One thread takes every callback: each only hands its message or answer to the loop.
    # (The EventsExecutor: rclpy's MultiThreadedExecutor's Python wait loop delayed service
    # answers by up to 0.7 s at 10,000 robots.)
    spinner = SpinThread([node]).start()
    try:
        asyncio.run(_run(args, node, services))
    except OSError as exc:
        print(f'fleet_web: cannot serve on {args.host}:{args.port}: {exc.strerror}',
              file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        spinner.stop()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
