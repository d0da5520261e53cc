"""Session-wide test settings: DDS on loopback, a ROS domain of this session's own, strict
event checking, and a ROS_HOME per test (so every agent's outbox starts empty)."""

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest

# Every process a test starts inherits these; set before rclpy is imported anywhere.
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
# Every event the manager logs is checked against its declared payload type.
os.environ['FLEET_STRICT_EVENTS'] = '1'
# pytest-xdist runs tests in worker processes (gw0, gw1, ...): each gets a domain of its
# own, next to the session's, so their nodes (one manager each) never meet.
_WORKER = int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:] or 0)
if 'FLEET_TEST_DOMAIN_ID' in os.environ:
    os.environ['ROS_DOMAIN_ID'] = str(int(os.environ['FLEET_TEST_DOMAIN_ID']) + _WORKER)
elif 'ROS_DOMAIN_ID' not in os.environ:
    # 1..100 keeps within the port range DDS maps for a domain; the controller's pid (the
    # workers' parent) spreads sessions.
    _session = os.getppid() if 'PYTEST_XDIST_WORKER' in os.environ else os.getpid()
    os.environ['ROS_DOMAIN_ID'] = str(1 + (_session % 50) * 2 + _WORKER % 2)
elif _WORKER:
    os.environ['ROS_DOMAIN_ID'] = str(int(os.environ['ROS_DOMAIN_ID']) + _WORKER)


# Agents keep their outboxes under ROS_HOME: one for the session (processes started by
# module-scoped fixtures; launch_testing's logs), and one per test (below), never the user's
# ~/.ros. The session's is removed when the session ends, as pytest's tmp_path dirs are.
SESSION_ROS_HOME = tempfile.mkdtemp(prefix='fleet-test-ros-home-')
atexit.register(shutil.rmtree, SESSION_ROS_HOME, ignore_errors=True)
os.environ['ROS_HOME'] = SESSION_ROS_HOME


@pytest.fixture(autouse=True)
def _ros_home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give each test its own ROS_HOME (agents keep their outboxes under it)."""
    monkeypatch.setenv('ROS_HOME', str(tmp_path / 'ros_home'))
