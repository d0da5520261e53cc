"""Launch test of launch/fleet.launch.py: the manager comes up configured and active.

Runs under launch_testing's pytest plugin where launch_testing is installed (a full ROS 2
install); skipped with the reason elsewhere, since launch, launch_ros and launch_testing
are not available from PyPI.
"""

import os
import pathlib
import unittest

import pytest

pytest.importorskip('launch_testing',
                    reason='launch_testing is not installed (no full ROS 2 install here)')
pytest.importorskip('launch_ros', reason='launch_ros is not installed')

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

LAUNCH = pathlib.Path(__file__).resolve().parents[1] / 'launch' / 'fleet.launch.py'


@pytest.mark.launch_test
def generate_test_description():
    tmp = os.environ.get('TMPDIR', '/tmp')
    fleet = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(LAUNCH)),
        launch_arguments={'database': os.path.join(tmp, f'fleet-launch-{os.getpid()}.db'),
                          'port': '18931'}.items())
    return launch.LaunchDescription([fleet, launch_testing.actions.ReadyToTest()])


class TestFleetLaunch(unittest.TestCase):

    def test_manager_activates(self, proc_output):
        proc_output.assertWaitFor('active', timeout=30, stream='stderr')

    def test_bridge_serves(self, proc_output):
        proc_output.assertWaitFor('serving http://127.0.0.1:18931/', timeout=30)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
