"""Launch test of fleet_bringup's fleet.launch.py and agent.launch.py, as a ROS user runs them.

The manager comes up configured and active once; a later lifecycle transition (what
``ros2 lifecycle set /fleet_manager deactivate`` does: a ``change_state`` service call) stays
in force, HTTP writes answer 503 "not active" meanwhile, and ``activate`` restores them. The
agent of agent.launch.py runs as ``/robot1/fleet_agent`` with the parameters of the given
``params_file`` and reaches the manager.

Needs a full ROS 2 install (launch, launch_ros, launch_testing; e.g. Ubuntu's
ros-jazzy-launch-testing-ros) with this workspace built and sourced; collected by
launch_testing's pytest plugin (pytest < 9). Skipped with the reason where launch_testing
is not installed, as on the PyPI wheels. Everything the launch writes (databases, bags,
ROS_HOME) goes to one temporary directory, removed when the test session ends.
"""

import atexit
import os
import pathlib
import shutil
import sys
import tempfile
import unittest

import pytest

#: pytest.ini disables launch_testing's plugin (it imports every test module by its
#: basename, which clashes across packages); launch tests run in a session that enables it.
SEPARATE_SESSION = ('launch tests run in a pytest session of their own: python -m pytest -p '
                    'launch_testing tests/test_launch_fleet.py tests/test_launch_demo.py')

try:
    import launch_testing
except ImportError:
    pytest.skip('launch_testing is not installed (it comes with a full ROS 2 install, not '
                'with the PyPI wheels)', allow_module_level=True)
if 'launch_testing.pytest.hooks' not in sys.modules:
    pytest.skip(SEPARATE_SESSION, allow_module_level=True)

from ament_index_python.packages import get_package_share_directory  # noqa: E402
import launch  # noqa: E402
from launch.actions import (  # noqa: E402
    GroupAction,
    IncludeLaunchDescription,
    SetEnvironmentVariable,  # noqa: E402
)
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from lifecycle_msgs.msg import State, Transition, TransitionEvent  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402

from fleet_testing import RosGraph, free_port, get_json, http, wait_for  # noqa: E402

TOKEN = 'launch-test-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
MISSION = {'waypoints': [{'x': 6.0, 'y': 10.0}], 'client_ref': 'launch-test'}
AGENT_REPORT_RATE = 2.5  # Hz, from the test's params_file (the shipped default is 1.0)


def launch_file(name: str) -> str:
    """Return the installed launch file ``name`` of fleet_bringup."""
    return os.path.join(get_package_share_directory('fleet_bringup'), 'launch', name)


def work_dir() -> pathlib.Path:
    """Return a new directory for everything the launch writes, removed at exit."""
    path = pathlib.Path(tempfile.mkdtemp(prefix='fleet-launch-test-'))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@pytest.mark.launch_test
def generate_test_description():
    work = work_dir()
    port = free_port()
    params = work / 'params.yaml'
    params.write_text('/**/fleet_agent:\n  ros__parameters:\n'
                      f'    report_rate: {AGENT_REPORT_RATE}\n')
    fleet = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(launch_file('fleet.launch.py')),
        launch_arguments={'database': str(work / 'fleet.db'),
                          'web_state': str(work / 'fleet_web.db'),
                          'port': str(port)}.items())
    agent = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(launch_file('agent.launch.py')),
        launch_arguments={'robot_id': 'robot1', 'params_file': str(params),
                          'software_version': '2.0'}.items())
    return launch.LaunchDescription([
        SetEnvironmentVariable('FLEET_TOKEN', TOKEN),
        SetEnvironmentVariable('ROS_HOME', str(work / 'ros_home')),
        # Each include in its own scope, as a user's launch file composing them would do.
        GroupAction([fleet], scoped=True), GroupAction([agent], scoped=True),
        launch_testing.actions.ReadyToTest(),
    ]), {'port': port, 'base': f'http://127.0.0.1:{port}/api/v1'}


class TestFleetLaunch(unittest.TestCase):
    """While the launch runs."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.graph = RosGraph()
        cls.node = cls.graph.node('launch_test_client')
        cls.get_state = cls.node.create_client(GetState, '/fleet_manager/get_state')
        cls.change_state = cls.node.create_client(ChangeState, '/fleet_manager/change_state')

    @classmethod
    def tearDownClass(cls) -> None:
        cls.graph.close()

    def state(self) -> str:
        return self.graph.call(self.get_state, GetState.Request(), timeout=30).current_state.label

    def transition(self, transition_id: int) -> None:
        resp = self.graph.call(self.change_state, ChangeState.Request(
            transition=Transition(id=transition_id)), timeout=30)
        self.assertTrue(resp.success, f'transition {transition_id} refused')

    def submit(self, base: str) -> tuple:
        status, body, _ = http('POST', f'{base}/missions', MISSION, AUTH)
        return status, body

    def test_bridge_serves(self, proc_output, port) -> None:
        proc_output.assertWaitFor(f'serving http://127.0.0.1:{port}/', timeout=60,
                                  stream='stdout')

    def test_lifecycle_set_is_honoured(self, base) -> None:
        wait_for(lambda: self.state() == 'active', timeout=60,
                 message='the launch to configure and activate the manager')
        wait_for(lambda: self.submit(base)[0] == 201, timeout=30,
                 message='HTTP writes to be accepted')
        seen = []
        sub = self.node.create_subscription(TransitionEvent, '/fleet_manager/transition_event',
                                            seen.append, 10)
        wait_for(lambda: sub.get_publisher_count() > 0, timeout=30,
                 message='the transition_event subscription to match')

        self.transition(Transition.TRANSITION_DEACTIVATE)
        status, body = self.submit(base)
        self.assertEqual(status, 503, body)
        self.assertIn('not active', body['error']['message'])
        self.assertEqual(self.state(), 'inactive')
        # Nothing but our own transition happened meanwhile (the launch used to re-activate
        # the manager on every entry into inactive, 11 ms later).
        wait_for(lambda: len(seen) >= 2, timeout=10, message='the deactivation events')
        self.assertEqual([(e.start_state.id, e.goal_state.id) for e in seen],
                         [(State.PRIMARY_STATE_ACTIVE, State.TRANSITION_STATE_DEACTIVATING),
                          (State.TRANSITION_STATE_DEACTIVATING, State.PRIMARY_STATE_INACTIVE)])

        self.transition(Transition.TRANSITION_ACTIVATE)
        self.assertEqual(self.state(), 'active')
        status, body = self.submit(base)
        self.assertEqual(status, 201, body)

    def test_agent_launch(self, base) -> None:
        # This test runs first, right after the launch: wait for the agent to be up (online)
        # before asking for its parameters (a loaded machine takes longer than a service wait).
        robot = wait_for(lambda: (get_json(f'{base}/robots/robot1', AUTH) or {})
                         .get('connectivity') == 'online'
                         and get_json(f'{base}/robots/robot1', AUTH), timeout=90,
                         message='robot1 online over HTTP')
        self.assertEqual(robot['software_version'], '2.0')
        # agent.launch.py names the node in the robot's namespace and applies params_file.
        self.assertEqual(self.graph.get_parameter('/robot1/fleet_agent', 'report_rate'),
                         AGENT_REPORT_RATE)
        self.assertEqual(self.graph.get_parameter('/robot1/fleet_agent', 'software_version'),
                         '2.0')


@launch_testing.post_shutdown_test()
class TestFleetShutdown(unittest.TestCase):
    """After the launch has stopped every process (SIGINT)."""

    def test_exit_codes(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)

    def test_no_traceback_nor_unretrieved_exception(self, proc_output) -> None:
        for output in proc_output:
            text = output.text.decode(errors='replace')
            self.assertNotIn('Traceback', text, output.process_name)
            self.assertNotIn('was never retrieved', text, output.process_name)
