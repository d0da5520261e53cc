"""The simulator's release behaviour and installer."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator

import pytest

from fleet_sim.releases import FAILED_TO_MAKE_PROGRESS, ReleaseFaults
from fleet_sim.sim_node import SimRobot
from fleet_testing import RosGraph, fleet_env


def test_bad_releases_fail_half_their_goals_repeatably() -> None:
    faults = ReleaseFaults.for_robot('robot1')
    draws = [faults.goal_fails('1.1.0-bad') for _ in range(2000)]
    assert 0.45 < sum(draws) / len(draws) < 0.55
    again = ReleaseFaults.for_robot('robot1')
    assert [again.goal_fails('1.1.0-bad') for _ in range(2000)] == draws
    assert not any(faults.goal_fails('1.1.0') for _ in range(200))
    failure = next(f for f in (faults.failure('2.0-bad') for _ in range(50)) if f)
    assert failure[0] == FAILED_TO_MAKE_PROGRESS and '2.0-bad' in failure[1]


@pytest.fixture
def graph() -> Iterator[RosGraph]:
    g = RosGraph()
    yield g
    g.close()


def test_the_installer_switches_the_version_through_an_offline_restart(
        graph: RosGraph) -> None:
    sim = graph.add(SimRobot('inst1', context=graph.context, software_version='1.0.0'))
    network: list[bool] = []
    sim.set_network_hook(network.append)
    proc = subprocess.run([sys.executable, '-m', 'fleet_sim.installer', '--robot', 'inst1',
                           '--version', '1.1.0', '--restart-seconds', '0.2'],
                          capture_output=True, text=True, timeout=60, env=fleet_env())
    assert proc.returncode == 0, proc.stderr
    assert 'inst1: 1.0.0 -> 1.1.0' in proc.stdout
    assert graph.get_parameter('/inst1/sim', 'software_version') == '1.1.0'
    assert graph.get_parameter('/inst1/sim', 'fault') == 'none'
    assert network == [False, True]  # off the network during the modelled restart
    missing = subprocess.run([sys.executable, '-m', 'fleet_sim.installer', '--robot', 'nobody',
                              '--version', '1.1.0', '--service-wait', '1'],
                             capture_output=True, text=True, timeout=60, env=fleet_env())
    assert missing.returncode == 1 and 'did not appear' in missing.stderr
