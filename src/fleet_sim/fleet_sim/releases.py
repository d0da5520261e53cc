"""How simulated robots behave on a software release: a bad release fails half its goals.

A release whose version ends in ``-bad`` (``1.1.0-bad``) makes the robot fail each Nav2
navigation goal with probability :data:`FAILURE_RATE` (``FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS``,
as a regressed controller would); every other version behaves normally. The draws are
seeded per robot (``FLEET_SIM_SEED`` in the environment, default 0, and the robot id), so a
run repeats exactly.

The simulated base consults it with two lines (see :mod:`fleet_sim.sim_node`)::

    self.release_faults = releases.ReleaseFaults.for_robot(robot_id)          # __init__
    failure = self.release_faults.failure(self.get_parameter('software_version').value)
    if failure is not None:                                                   # each goal
        return (*failure, GoalStatus.STATUS_ABORTED)
"""

from __future__ import annotations

import os
import random
import zlib

BAD_SUFFIX = '-bad'
FAILURE_RATE = 0.5
FAILED_TO_MAKE_PROGRESS = 105
"""nav2_msgs FollowPath error code: the controller made no progress."""
SEED_VARIABLE = 'FLEET_SIM_SEED'


class ReleaseFaults:
    """Seeded draws of whether a goal fails on the robot's current release."""

    def __init__(self, seed: int, rate: float = FAILURE_RATE) -> None:
        self._rng = random.Random(seed)
        self.rate = rate

    @classmethod
    def for_robot(cls, robot_id: str) -> 'ReleaseFaults':
        """The draws of one robot (seeded by ``FLEET_SIM_SEED`` and the robot id)."""
        base = int(os.environ.get(SEED_VARIABLE, '0') or 0)
        return cls(base * 1_000_003 + zlib.crc32(robot_id.encode()))

    def goal_fails(self, software_version: str) -> bool:
        """True when this goal fails on ``software_version`` (always False unless bad)."""
        return str(software_version).endswith(BAD_SUFFIX) and self._rng.random() < self.rate

    def failure(self, software_version: str) -> tuple[int, str] | None:
        """(Nav2 error code, message) when this goal fails, else None."""
        if not self.goal_fails(software_version):
            return None
        return (FAILED_TO_MAKE_PROGRESS,
                f'release {software_version}: the controller made no progress (simulated '
                'regression of a bad release)')
