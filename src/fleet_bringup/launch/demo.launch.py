"""Launch the simulated fleet: N simulated robots (base + agent each), the fleet manager and
the HTTP bridge. Keeps DDS discovery on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE
is already set.

    ros2 launch fleet_manager demo.launch.py robots:=5 port:=8080
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.actions import SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def robots(context: LaunchContext) -> list:
    count = int(LaunchConfiguration('robots').perform(context))
    if count < 1:
        raise ValueError('robots must be at least 1')
    return [Node(package='fleet_sim', executable='fleet_sim', name=f'sim_robot{i}',
                 output='screen',
                 arguments=[f'robot{i}', '--fleet-config',
                            LaunchConfiguration('fleet_config').perform(context)])
            for i in range(1, count + 1)]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare('fleet_manager')
    return LaunchDescription([
        DeclareLaunchArgument('robots', default_value='5',
                              description='Number of simulated robots (robot1..robotN).'),
        DeclareLaunchArgument(
            'fleet_config', default_value=PathJoinSubstitution([share, 'config', 'fleet.yaml']),
            description='Fleet definition: robots, docks and named areas.'),
        DeclareLaunchArgument('database', default_value='demo/fleet.db',
                              description='Path of the SQLite fleet store.'),
        DeclareLaunchArgument('port', default_value='8080',
                              description='TCP port of the HTTP bridge.'),
        SetEnvironmentVariable('ROS_AUTOMATIC_DISCOVERY_RANGE', EnvironmentVariable(
            'ROS_AUTOMATIC_DISCOVERY_RANGE', default_value='LOCALHOST')),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch',
                                                                'fleet.launch.py'])),
            launch_arguments={'fleet_config': LaunchConfiguration('fleet_config'),
                              'database': LaunchConfiguration('database'),
                              'port': LaunchConfiguration('port')}.items()),
        OpaqueFunction(function=robots),
    ])
