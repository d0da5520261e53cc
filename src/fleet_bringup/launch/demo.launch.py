"""Launch the simulated fleet: N simulated robots, the fleet manager and the HTTP bridge.

    ros2 launch fleet_bringup demo.launch.py robots:=5 port:=8080

Nodes: ``/fleet_manager`` and ``/fleet_web`` (fleet.launch.py, configured and activated once)
and, for each robot ``robotN`` (N = 1..robots), one ``fleet_sim`` process holding the
simulated Nav2 base ``/robotN/sim`` and the robot's agent ``/robotN/fleet_agent``. Faults are
injected through the simulator's parameters, e.g.
``ros2 param set /robot2/sim fault stuck``.

fleet.launch.py's ``namespace`` and ``autostart`` apply to the manager and the bridge here
too (``ros2 launch ... --show-args`` lists them); the robots always get their own namespaces.
``use_sim_time`` stays false: the simulator runs on the wall clock and publishes no
``/clock``. DDS discovery stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE is
already set.
"""

import os
import pathlib

from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    IncludeLaunchDescription,
    OpaqueFunction,
    SetEnvironmentVariable,
    SetLaunchConfiguration,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from fleet_common.launcher import ENV as STOP_WITH_PID
from fleet_sim.demo import write_demo_fleet

PASSED_ON = ('params_file', 'fleet_config', 'database', 'web_config', 'web_state', 'host',
             'port')
#: Fixed for the simulated fleet, whatever the command line says (see the module docstring).
FIXED = {'use_sim_time': 'false'}


def arguments() -> list:
    """Return this launch file's arguments, each with its description."""
    config = PathJoinSubstitution([FindPackageShare('fleet_bringup'), 'config'])
    return [
        DeclareLaunchArgument('robots', default_value='5',
                              description='Number of simulated robots: robot1..robotN.'),
        DeclareLaunchArgument(
            'params_file', default_value=PathJoinSubstitution([config, 'params.yaml']),
            description='Node parameters YAML, keyed by node name (/**/sim and '
                        '/**/fleet_agent sections reach every robot\'s nodes).'),
        DeclareLaunchArgument(
            'fleet_config', default_value=PathJoinSubstitution([config, 'fleet.yaml']),
            description='Fleet definition: robots (their docks are where the simulated '
                        'robots start), capabilities, docks and named areas. The launch '
                        'uses a copy with exactly `robots` robots (its first ones, then '
                        'robots of its robot_defaults), written beside the database.'),
        DeclareLaunchArgument('database', default_value='demo/fleet.db',
                              description='Path of the SQLite fleet store.'),
        DeclareLaunchArgument(
            'web_config', default_value='',
            description='Bridge config YAML; empty: the installed config/web.yaml. '
                        'FLEET_TOKEN in the environment adds an admin key.'),
        DeclareLaunchArgument('web_state', default_value='demo/fleet_web.db',
                              description='Path of the bridge\'s own SQLite.'),
        DeclareLaunchArgument('host', default_value='127.0.0.1',
                              description='Address the HTTP bridge listens on.'),
        DeclareLaunchArgument('port', default_value='8080',
                              description='TCP port of the HTTP bridge.'),
    ]


def _robot_count(context: LaunchContext) -> int:
    text = LaunchConfiguration('robots').perform(context)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f'demo.launch.py: robots must be a whole number of at least 1; '
                         f'got {text!r}')
    return int(text)


def _fleet_of_n(context: LaunchContext) -> list:
    """Point fleet_config at a copy of it with exactly ``robots`` robots (as ``make demo``
    does), so the manager lists no robot that is not simulated."""
    database = os.path.abspath(LaunchConfiguration('database').perform(context))
    path = write_demo_fleet(LaunchConfiguration('fleet_config').perform(context),
                            _robot_count(context), pathlib.Path(os.path.dirname(database)))
    return [SetLaunchConfiguration('fleet_config', str(path))]


def _robots(context: LaunchContext) -> list:
    """Return one fleet_sim process per robot (its nodes: /robotN/sim, /robotN/fleet_agent)."""
    count = _robot_count(context)
    fleet_config = LaunchConfiguration('fleet_config').perform(context)
    # No name= here: a process-wide __node remap would give the simulator and the agent
    # the same name. The nodes name themselves.
    return [Node(package='fleet_sim', executable='fleet_sim', output='screen',
                 arguments=[f'robot{i}', '--fleet-config', fleet_config],
                 parameters=[LaunchConfiguration('params_file')],
                 additional_env={STOP_WITH_PID: str(os.getpid())})
            for i in range(1, count + 1)]


def generate_launch_description() -> LaunchDescription:
    fleet = PathJoinSubstitution([FindPackageShare('fleet_bringup'), 'launch',
                                  'fleet.launch.py'])
    return LaunchDescription([
        *arguments(),
        SetEnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE', EnvironmentVariable(
            'ROS_AUTOMATIC_DISCOVERY_RANGE', default_value='LOCALHOST')),
        OpaqueFunction(function=_fleet_of_n),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(fleet),
            launch_arguments=[*((name, LaunchConfiguration(name)) for name in PASSED_ON),
                              *FIXED.items()]),
        OpaqueFunction(function=_robots),
    ])
