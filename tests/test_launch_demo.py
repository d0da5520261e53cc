"""Launch test of fleet_bringup's demo.launch.py with 3 robots, as a ROS user runs it.

The 3 simulated robots are online over HTTP; every node has its own name (``/robotN/sim``,
``/robotN/fleet_agent``, ``/fleet_manager``, ``/fleet_web``); and a fault injected through
the simulator's parameter service, as ``ros2 param set /robot1/sim fault stuck`` does, makes
robot1 stuck: its mission's recoveries open a ``robot_stuck`` incident, seen over HTTP.

Needs a full ROS 2 install (launch, launch_ros, launch_testing) with this workspace built and
sourced; collected by launch_testing's pytest plugin (pytest < 9). Skipped with the reason
where launch_testing is not installed, as on the PyPI wheels. Everything the launch writes
goes to one temporary directory, removed when the test session ends.
"""

import atexit
import collections
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
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import yaml  # noqa: E402

from fleet_testing import RosGraph, free_port, get_json, http, wait_for  # noqa: E402

TOKEN = 'launch-test-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
ROBOTS = ['robot1', 'robot2', 'robot3']
RECOVERY_INTERVAL = 0.3  # s between a stuck robot's recoveries (default 1 s)


def share(*parts: str) -> str:
    """Return a path in fleet_bringup's installed share directory."""
    return os.path.join(get_package_share_directory('fleet_bringup'), *parts)


def work_dir() -> pathlib.Path:
    """Return a new directory for everything the launch writes, removed at exit."""
    path = pathlib.Path(tempfile.mkdtemp(prefix='fleet-launch-test-'))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def three_robot_fleet(work: pathlib.Path) -> pathlib.Path:
    """Write the shipped fleet.yaml with only the robots the launch starts (no offline rows)."""
    data = yaml.safe_load(pathlib.Path(share('config', 'fleet.yaml')).read_text())
    data['robots'] = [r for r in data['robots'] if r['id'] in ROBOTS]
    data['map']['occupancy'] = share('config', 'maps', 'warehouse.yaml')  # was relative
    path = work / 'fleet.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.launch_test
def generate_test_description():
    work = work_dir()
    port = free_port()
    demo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(share('launch', 'demo.launch.py')),
        launch_arguments={'robots': str(len(ROBOTS)), 'port': str(port),
                          'fleet_config': str(three_robot_fleet(work)),
                          'database': str(work / 'fleet.db'),
                          'web_state': str(work / 'fleet_web.db')}.items())
    return launch.LaunchDescription([
        SetEnvironmentVariable('FLEET_TOKEN', TOKEN),
        SetEnvironmentVariable('ROS_HOME', str(work / 'ros_home')),
        demo, launch_testing.actions.ReadyToTest(),
    ]), {'base': f'http://127.0.0.1:{port}/api/v1'}


class TestDemoLaunch(unittest.TestCase):
    """While the launch runs."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.graph = RosGraph()
        cls.node = cls.graph.node('launch_test_client')

    @classmethod
    def tearDownClass(cls) -> None:
        cls.graph.close()

    def test_three_robots_online_over_http(self, base) -> None:
        def online() -> list:
            page = get_json(f'{base}/robots', AUTH) or {'items': []}
            return sorted(r['id'] for r in page['items'] if r['connectivity'] == 'online')
        wait_for(lambda: online() == ROBOTS, timeout=90, message='robot1..robot3 online')
        page = get_json(f'{base}/robots', AUTH)
        self.assertEqual(page['total'], len(ROBOTS), page)

    def test_node_names_are_unique(self) -> None:
        namespaces = {'/', *(f'/{robot}' for robot in ROBOTS)}
        expected = {('fleet_manager', '/'), ('fleet_manager_api', '/'), ('fleet_web', '/'),
                    *((name, f'/{robot}') for robot in ROBOTS
                      for name in ('sim', 'fleet_agent'))}
        ours = {('launch_test_client', '/'), ('test_parameters', '/')}

        def graph() -> list:
            # Only the namespaces this launch uses: other ROS programs may share the domain.
            return [n for n in self.node.get_node_names_and_namespaces()
                    if n[1] in namespaces and n not in ours
                    and not n[0].startswith('launch_ros_')]
        wait_for(lambda: expected <= set(graph()), timeout=90,
                 message=f'the nodes {sorted(expected)} (have {sorted(graph())})')
        counts = collections.Counter(graph())
        self.assertEqual({n: c for n, c in counts.items() if c > 1}, {}, 'duplicate names')
        robots = {n for n in counts if n[1] != '/'}
        self.assertEqual(robots, {n for n in expected if n[1] != '/'})

    def test_fault_injection_through_sim_parameters(self, base) -> None:
        # This test may run first, right after the launch: robot1's process is up once the
        # robot is online (on a loaded machine that takes longer than a service wait).
        wait_for(lambda: (get_json(f'{base}/robots/robot1', AUTH) or {})
                 .get('connectivity') == 'online', timeout=90, message='robot1 online')
        # What `ros2 param set /robot1/sim fault stuck` does: a set_parameters service call.
        self.graph.set_parameters('/robot1/sim', fault='stuck',
                                  recovery_interval=RECOVERY_INTERVAL)
        self.assertEqual(self.graph.get_parameter('/robot1/sim', 'fault'), 'stuck')
        status, mission, _ = http('POST', f'{base}/missions', {
            'waypoints': [{'x': 6.0, 'y': 10.0}], 'pinned_robot': 'robot1',
            'client_ref': 'launch-test-stuck'}, AUTH)
        self.assertEqual(status, 201, mission)

        def stuck_incident() -> list:
            page = get_json(f'{base}/incidents?robot_id=robot1', AUTH) or {'items': []}
            return [i for i in page['items'] if i['type'] == 'robot_stuck']
        incidents = wait_for(stuck_incident, timeout=90,
                             message='a robot_stuck incident for robot1')
        self.assertEqual(incidents[0]['robot_id'], 'robot1')
        status, got, _ = http('GET', f'{base}/missions/{mission["id"]}', None, AUTH)
        self.assertEqual(status, 200, got)
        self.assertNotEqual(got['state'], 'succeeded', 'a stuck robot cannot arrive')


@launch_testing.post_shutdown_test()
class TestDemoShutdown(unittest.TestCase):
    """After the launch has stopped every process (SIGINT)."""

    def test_exit_codes(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)

    def test_no_traceback_nor_unretrieved_exception(self, proc_output) -> None:
        # fleet_sim used to print "The following exception was never retrieved" on SIGINT.
        for output in proc_output:
            text = output.text.decode(errors='replace')
            self.assertNotIn('Traceback', text, output.process_name)
            self.assertNotIn('was never retrieved', text, output.process_name)
