"""Fast DDS's Discovery Server for a fleet on one machine (``ROS_DISCOVERY_SERVER``).

With simple discovery every DDS participant announces itself to every other one, so the
discovery traffic and the time until a large fleet is connected grow with the square of the
processes; with a discovery server each participant talks to the server only (measured in
``bench/bench_discovery.py``). The server is Fast DDS's own ``fast-discovery-server``, which
comes with Fast DDS (``/opt/ros/<distro>/bin`` on a ROS install; the virtual environment's
``bin`` with the PyPI wheels).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import sys
import sysconfig

__all__ = ['ENV_VAR', 'free_udp_port', 'server_command']

ENV_VAR = 'ROS_DISCOVERY_SERVER'


def server_command(port: int, address: str = '127.0.0.1',
                   server_id: int = 0) -> tuple[list[str], dict[str, str]] | None:
    """The command line that runs a discovery server on ``address:port``, and the
    environment variables it needs besides the caller's; None when Fast DDS's
    ``fast-discovery-server`` is not installed."""
    exe = shutil.which('fast-discovery-server')
    if exe is None:
        candidate = pathlib.Path(sys.prefix) / 'bin' / 'fast-discovery-server'
        if not candidate.exists():
            return None
        exe = str(candidate)
    env: dict[str, str] = {}
    # The PyPI wheels keep Fast DDS's libraries where only Python's loader looks for them.
    libs = [pathlib.Path(sys.prefix) / 'lib']
    libs += sorted(pathlib.Path(sysconfig.get_paths()['purelib']).glob('ros_rmw_fastrtps*.libs'))
    found = [str(p) for p in libs if p.is_dir() and any(p.glob('lib*.so*'))]
    if found:
        env['LD_LIBRARY_PATH'] = os.pathsep.join(
            found + [p for p in os.environ.get('LD_LIBRARY_PATH', '').split(os.pathsep) if p])
    return [exe, '-i', str(server_id), '-l', address, '-p', str(port)], env


def free_udp_port(address: str = '127.0.0.1') -> int:
    """A UDP port on ``address`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])
