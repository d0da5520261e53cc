"""fleet_common.launcher: only a process whose parent is the named launch process is tied to
it (tests/test_e2e_stop_with_launch.py shows the tie at work)."""

import os

from fleet_common.launcher import ENV, stop_with_launcher


def test_without_the_variable_nothing_is_arranged() -> None:
    assert stop_with_launcher({}) is False


def test_a_pid_that_is_not_the_parent_is_ignored() -> None:
    # What a process started by a node sees: the variable names its grandparent.
    assert stop_with_launcher({ENV: str(os.getpid())}) is False


def test_a_malformed_value_is_ignored() -> None:
    assert stop_with_launcher({ENV: 'launch'}) is False
    assert stop_with_launcher({ENV: ''}) is False
