"""``fleet_demo``: the whole simulated fleet, without ``ros2 launch``.

Starts, each as a process of its own as on a real site: the fleet manager, the HTTP bridge,
simulated robots (each a simulated Nav2 base plus its fleet agent; ``--robots-per-process``
of them per process, so a large fleet uses every core) and, unless disabled, a mission
generator. Their logs go to ``<demo dir>/logs/``. Prints progress while the fleet comes up,
then where to look; runs until Ctrl-C or SIGTERM, then stops every process (SIGTERM, then
SIGKILL after a grace period) and exits 0 when all stopped cleanly.

The fleet definition is the shipped one, trimmed or extended to exactly ``--robots`` robots
(extra robots get docks of their own south of the warehouse), written to
``<demo dir>/fleet.yaml``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.request

import yaml

from fleet_common import discovery
from fleet_common.config import ConfigError, read_yaml
from fleet_common.paths import config_file

GRACE = 10.0
GRACE_PER_ROBOT = 0.3  # s: a simulated robot's nodes and action servers take ~0.3 s of CPU
                       # to tear down, and the robot processes stop at the same time
DISCOVERY = 'discovery'  # the name of the discovery server's process
AUTO_SERVER_ABOVE = 20  # robots; bench/bench_discovery.py measured the difference
"""s a process gets to stop after SIGTERM before it is killed."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_demo',
        description='Run the simulated fleet: robots, agents, fleet manager and HTTP bridge, '
                    'each a process, until Ctrl-C or SIGTERM.')
    p.add_argument('--robots', type=int, default=5, help='number of simulated robots, 1-500 '
                   '(default: %(default)s)')
    p.add_argument('--host', default='127.0.0.1', help='HTTP address (default: %(default)s)')
    p.add_argument('--port', type=int, default=8080, help='HTTP port (default: %(default)s)')
    p.add_argument('--missions', type=int, choices=(0, 1), default=1,
                   help='1 feeds generated missions, 0 leaves the fleet idle (default: 1)')
    p.add_argument('--database', default='demo/fleet.db',
                   help='fleet store path; its directory holds the demo\'s other files '
                        '(default: %(default)s)')
    p.add_argument('--keep-state', action='store_true',
                   help='go on from the previous run\'s store, bridge state and agent outboxes '
                        '(default: start afresh; the previous run\'s files are moved to '
                        '<demo dir>/previous/, so its robots do not show up in this one)')
    p.add_argument('--fleet-config', default='', help='fleet definition YAML to start from '
                   '(default: the shipped config/fleet.yaml)')
    p.add_argument('--web-config', default='', help='bridge config YAML (API keys, '
                   'webhooks, rate limit; default: the shipped config/web.yaml)')
    p.add_argument('--speed', type=float, default=1.0, help='robot speed in m/s '
                   '(default: %(default)s)')
    p.add_argument('--discovery', choices=('auto', 'simple', 'server'), default='auto',
                   help='DDS discovery: simple (every process finds every other), server (a '
                        'Fast DDS discovery server on 127.0.0.1, faster for many robots) or '
                        f'auto: server above {AUTO_SERVER_ABOVE} robots (default: auto; an '
                        'existing ROS_DISCOVERY_SERVER is used as it is)')
    p.add_argument('--robots-per-process', type=int, default=10,
                   help='simulated robots per process (default: %(default)s; rclpy\'s '
                        'per-node graph bookkeeping makes a process with many more nodes '
                        'slow to start)')
    return p


def anchor_map_files(fleet: dict[str, Any], folder: pathlib.Path) -> dict[str, Any]:
    """Make ``map.occupancy`` absolute (it is relative to the file it came from, in
    ``folder``), so that the copy written elsewhere names the same map."""
    mapping = fleet.get('map')
    if isinstance(mapping, dict) and isinstance(mapping.get('occupancy'), str) \
            and mapping['occupancy'] and not pathlib.Path(mapping['occupancy']).is_absolute():
        fleet = {**fleet, 'map': {**mapping,
                                  'occupancy': str((folder / mapping['occupancy']).absolute())}}
    return fleet


def demo_fleet(base: dict[str, Any], robots: int) -> dict[str, Any]:
    """The fleet definition for ``robots`` robots: the base's robots first (as many as are
    wanted), then robots with the base's ``robot_defaults`` and docks of their own."""
    out = dict(base)
    listed = list(base.get('robots') or [])[:robots]
    defaults = dict(base.get('robot_defaults') or {})
    mapping = dict(base.get('map') or {})
    docks = dict(mapping.get('docks') or {})
    for i in range(len(listed) + 1, robots + 1):
        name = f'dock_{i}'
        if name not in docks:
            k = i - 6
            docks[name] = {'x': round(1.0 + 1.2 * (k % 24), 2), 'y': -1.0 - 1.2 * (k // 24),
                           'theta': 1.5708}
        listed.append({'id': f'robot{i}', 'capabilities': list(defaults.get(
            'capabilities', ['tote'])), 'group': defaults.get('group', 'floor'), 'dock': name})
    mapping['docks'] = docks
    out['map'] = mapping
    out['robots'] = listed
    return out


def write_demo_fleet(base_path: str, robots: int, folder: pathlib.Path) -> pathlib.Path:
    """Write ``folder/fleet.yaml``: the fleet definition at ``base_path`` made exactly
    ``robots`` robots long (:func:`demo_fleet`, map files anchored); return its path.
    Raises ConfigError naming the file when ``base_path`` cannot be read."""
    fleet = anchor_map_files(demo_fleet(read_yaml(base_path), robots),
                             pathlib.Path(base_path).parent)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / 'fleet.yaml'
    path.write_text('# Written by fleet_demo from ' + str(base_path) + '\n'
                    + yaml.safe_dump(fleet, sort_keys=False))
    return path


class Stack:
    """The demo's processes."""

    def __init__(self, logs: pathlib.Path, env: dict[str, str], grace: float = GRACE) -> None:
        self.logs = logs
        self.env = env
        self.grace = grace
        self.procs: list[tuple[str, subprocess.Popen[bytes], Any]] = []

    def start(self, name: str, args: list[str], program: str = sys.executable,
              env: dict[str, str] | None = None) -> None:
        """Start ``program`` (default: this Python) with ``args``; ``env`` adds variables."""
        log = open(self.logs / f'{name}.log', 'wb')
        proc = subprocess.Popen([program, *args], stdout=log, stderr=subprocess.STDOUT,
                                env={**self.env, **(env or {})}, start_new_session=True)
        self.procs.append((name, proc, log))

    def dead(self) -> list[str]:
        """Names of the processes that exited, with their codes."""
        return [f'{n} (exit {p.returncode})' for n, p, _ in self.procs if p.poll() is not None]

    def stop(self) -> bool:
        """SIGTERM every process (newest first), SIGKILL what outlives the grace period;
        True when every one exited 0. The discovery server goes last, once every node that
        talks through it is gone."""
        last = [p for p in self.procs if p[0] == DISCOVERY]
        clean = self._stop([p for p in self.procs if p[0] != DISCOVERY])
        return self._stop(last) and clean

    def _stop(self, procs: list[tuple[str, subprocess.Popen[bytes], Any]]) -> bool:
        told = set()
        for name, proc, _ in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                told.add(name)
        deadline = time.monotonic() + self.grace
        clean = True
        for name, proc, log in reversed(procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f'fleet_demo: {name} did not stop in {self.grace:g} s: killed',
                      flush=True)
                proc.kill()
                proc.wait()
            # Ended by the SIGTERM itself: it was still starting (its handler not yet set),
            # so it had nothing to save. A stop, not a failure.
            starting = proc.returncode == -signal.SIGTERM and name in told
            if proc.returncode != 0 and not starting:
                print(f'fleet_demo: {name} exited with code {proc.returncode}', flush=True)
            clean = clean and (proc.returncode == 0 or starting)
            log.close()
        return clean


def get_json(url: str, token: str) -> Any:
    import json
    req = urllib.request.Request(url, headers={'Authorization': f'Bearer {token}'})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


class Stop(Exception):
    """Ctrl-C or SIGTERM."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stop()


def main(argv: list[str] | None = None) -> None:
    """Run the demo."""
    args = build_parser().parse_args(argv)
    if not 1 <= args.robots <= 500:
        print('fleet_demo: --robots must be between 1 and 500', file=sys.stderr)
        raise SystemExit(2)
    if args.robots_per_process < 1:
        print('fleet_demo: --robots-per-process must be at least 1', file=sys.stderr)
        raise SystemExit(2)
    base_path = args.fleet_config or config_file('fleet.yaml')
    database = pathlib.Path(args.database).absolute()
    home = database.parent
    try:
        fleet_path = write_demo_fleet(base_path, args.robots, home)
    except ConfigError as exc:
        print(f'fleet_demo: {exc}', file=sys.stderr)
        raise SystemExit(2) from None
    if not args.keep_state:
        set_aside_previous_run(database)
    logs = home / 'logs'
    logs.mkdir(parents=True, exist_ok=True)
    token = os.environ.get('FLEET_TOKEN') or secrets.token_urlsafe(24)
    env = dict(os.environ, FLEET_TOKEN=token, PYTHONUNBUFFERED='1',
               ROS_HOME=str(home / 'ros_home'))
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    server = discovery_server(args, env)
    stack = Stack(logs, env, GRACE + GRACE_PER_ROBOT * args.robots)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    code = 0
    try:
        if server is not None:
            command, server_env = server
            stack.start(DISCOVERY, command[1:], program=command[0], env=server_env)
        start_stack(stack, args, database, fleet_path)
        base_url = f'http://{args.host}:{args.port}'
        wait_ready(stack, base_url, token, args.robots)
        banner(args, base_url, token, database, logs, env.get(discovery.ENV_VAR, ''))
        while True:
            dead = stack.dead()
            if dead:
                print(f'fleet_demo: stopped unexpectedly: {", ".join(dead)} (see {logs})',
                      file=sys.stderr, flush=True)
                code = 1
                break
            time.sleep(1.0)  # watching the processes until Ctrl-C or SIGTERM
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(f'fleet_demo: stopping {len(stack.procs)} processes...', flush=True)
        clean = stack.stop()
        print(f'fleet_demo: stopped{"" if clean else " (not every process cleanly)"}; '
              f'database closed ({database})', flush=True)
        if not clean and code == 0:
            code = 1
    raise SystemExit(code)


def set_aside_previous_run(database: pathlib.Path) -> None:
    """Move a previous run's state (the store, the bridge's state, the agents' outboxes
    under ros_home, bags, logs) to ``<demo dir>/previous/``, replacing an older one: the
    registry keeps every robot it ever saw, so ``--robots 3`` after a run of 5 would show
    robots 4 and 5 offline."""
    home = database.parent
    names = [database.name, 'fleet_web.db', 'ros_home', 'bags', 'logs']
    found = [home / f'{n}{suffix}' for n in names for suffix in ('', '-wal', '-shm')
             if (home / f'{n}{suffix}').exists()]
    if not any(path.name.startswith(database.name) for path in found):
        return
    previous = home / 'previous'
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir(parents=True)
    for path in found:
        path.rename(previous / path.name)
    print(f'fleet_demo: starting afresh; the previous run is in {previous} '
          '(--keep-state to go on from it)', flush=True)


def start_stack(stack: Stack, args: argparse.Namespace, database: pathlib.Path,
                fleet_path: pathlib.Path) -> None:
    stack.start('manager', ['-m', 'fleet_manager.manager_node', '--ros-args',
                            '-p', f'database:={database}', '-p', f'fleet_config:={fleet_path}'])
    web = ['-m', 'fleet_web.web_node', '--host', args.host, '--port', str(args.port),
           '--state', str(database.parent / 'fleet_web.db')]
    if args.web_config:
        web += ['--config', str(pathlib.Path(args.web_config).absolute())]
    stack.start('web', web)
    ids = [f'robot{i}' for i in range(1, args.robots + 1)]
    per = args.robots_per_process
    for k in range(0, len(ids), per):
        stack.start(f'robots{k // per + 1}', [
            '-m', 'fleet_sim.fleet', *ids[k:k + per], '--fleet-config', str(fleet_path),
            '--speed', str(args.speed)])
    if args.missions:
        stack.start('missions', ['-m', 'fleet_sim.feeder', '--fleet-config', str(fleet_path),
                                 '--robots', str(args.robots)])


def wait_ready(stack: Stack, base: str, token: str, robots: int) -> None:
    """Print progress until every robot is online (or 120 s passed)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < 120.0:
        dead = stack.dead()
        if dead:
            raise SystemExit(f'fleet_demo: a process stopped: {", ".join(dead)}')
        body = get_json(f'{base}/api/v1/robots?limit=1000', token)
        online = sum(1 for r in (body or {}).get('items', []) if r['connectivity'] == 'online')
        state = 'the bridge is starting' if body is None else f'{online} of {robots} robots online'
        if state != last:
            print(f'fleet_demo: {time.monotonic() - start:5.1f} s: {state}', flush=True)
            last = state
        if online >= robots:
            return
        time.sleep(0.5)  # polling the API for progress
    print('fleet_demo: not every robot came online within 120 s; going on', flush=True)


def discovery_server(args: argparse.Namespace,
                     env: dict[str, str]) -> tuple[list[str], dict[str, str]] | None:
    """The discovery server to start (and ``env`` pointed at it), or None for simple
    discovery or a server the user runs (``ROS_DISCOVERY_SERVER`` already set)."""
    if env.get(discovery.ENV_VAR):
        return None
    mode = args.discovery
    if mode == 'auto':
        mode = 'server' if args.robots > AUTO_SERVER_ABOVE else 'simple'
    if mode == 'simple':
        return None
    port = discovery.free_udp_port()
    server = discovery.server_command(port)
    if server is None:
        if args.discovery == 'server':
            raise SystemExit('fleet_demo: --discovery server needs Fast DDS\'s '
                             'fast-discovery-server on PATH')
        print('fleet_demo: fast-discovery-server not found: simple discovery', flush=True)
        return None
    env[discovery.ENV_VAR] = f'127.0.0.1:{port}'
    return server


def banner(args: argparse.Namespace, base: str, token: str, database: pathlib.Path,
           logs: pathlib.Path, server: str) -> None:
    print(f'\nFleet demo running: {args.robots} simulated robots, '
          f'missions {"on" if args.missions else "off"}.\n'
          f'  dashboard: {base}/?token={token}\n'
          f'  token:   export FLEET_TOKEN={token}\n'
          f'  robots:  curl -H "Authorization: Bearer $FLEET_TOKEN" {base}/api/v1/robots\n'
          f'  events:  curl -H "Authorization: Bearer $FLEET_TOKEN" {base}/api/v1/events\n'
          f'  metrics: {base}/metrics\n'
          f'  API doc: {base}/api/v1/openapi.json\n'
          f'  store:   {database}\n'
          f'  logs:    {logs}\n'
          + (f'  ROS:     export ROS_DISCOVERY_SERVER={server} ROS_SUPER_CLIENT=TRUE '
             '(the demo uses a discovery server: set both before ros2, RViz or Foxglove\'s '
             'bridge)\n' if server else '')
          +
          'Ctrl-C to stop.', flush=True)


if __name__ == '__main__':
    main()
