"""End to end: a node started by a fleet_bringup launch file stops cleanly when the launch
process exits without stopping it, as ``ros2 launch`` does on SIGTERM (upstream launch
exits at once there and would leave its processes running).

No ``launch`` needed: a stand-in launcher starts the node with the variable the launch files
set (``FLEET_STOP_WITH_PID``, its own pid) and is then SIGKILLed. A reaper process above it
(a Linux child subreaper) collects the orphaned node's exit code.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import sys

import pytest

from fleet_common.launcher import ENV
from fleet_testing import Proc, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120),
              pytest.mark.skipif(not sys.platform.startswith('linux'),
                                 reason='PR_SET_PDEATHSIG and subreapers are Linux only')]

# Becomes the orphan's parent (PR_SET_CHILD_SUBREAPER = 36) and prints every exit code.
REAPER = """
import ctypes, os, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
subprocess.Popen([sys.executable, '-c', sys.argv[1], *sys.argv[2:]])
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    print(f'exited {pid} {os.waitstatus_to_exitcode(status)}', flush=True)
"""
# The stand-in for ros2 launch: starts the node with the variable set to its own pid.
LAUNCHER = f"""
import os, subprocess, sys
print(f'launcher {{os.getpid()}}', flush=True)
node = subprocess.Popen([sys.executable, *sys.argv[1:]],
                        env=dict(os.environ, {ENV}=str(os.getpid())))
print(f'node {{node.pid}}', flush=True)
node.wait()
"""


def pid_in(text: str, role: str) -> int:
    match = re.search(rf'^{role} (\d+)$', text, re.M)
    assert match, f'no {role} pid in:\n{text}'
    return int(match.group(1))


@pytest.mark.parametrize('node', ['fleet_sim', 'fleet_web'])
def test_node_stops_when_its_launch_exits(tmp_path: pathlib.Path, node: str) -> None:
    if node == 'fleet_sim':  # ros.init: the manager, the agents and the simulators
        args, ready = ['-m', 'fleet_sim.fleet', 'robot1'], 'agent for robot1 up'
    else:  # fleet_web's asyncio signal handling
        port = free_port()
        args = ['-m', 'fleet_web.web_node', '--port', str(port),
                '--state', str(tmp_path / 'web.db')]
        ready = f'serving http://127.0.0.1:{port}/'
    reaper = Proc('reaper', ['-c', REAPER, LAUNCHER, *args], tmp_path)
    try:
        wait_for(lambda: ready in reaper.output(), timeout=60,
                 message=f'{node} to start:\n{reaper.tail()}')
        launcher, child = pid_in(reaper.output(), 'launcher'), pid_in(reaper.output(), 'node')
        os.kill(launcher, signal.SIGKILL)
        wait_for(lambda: f'exited {child} ' in reaper.output(), timeout=30,
                 message=f'{node} to stop after its launcher died:\n{reaper.tail()}')
        out = reaper.output()
        assert f'exited {launcher} -9' in out, out
        assert f'exited {child} 0' in out, out
        assert 'Traceback' not in out, out
    finally:
        reaper.kill()
