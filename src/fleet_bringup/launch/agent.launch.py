"""Launch one robot's fleet agent, on the robot, in the robot's namespace.

    ros2 launch fleet_bringup agent.launch.py robot_id:=robot1
    ros2 launch fleet_bringup agent.launch.py robot_id:=robot1 namespace:=/   # Nav2 not namespaced

Node: ``/<namespace>/fleet_agent`` (``namespace`` defaults to the robot id). The agent talks
to the robot's Nav2, odometry, battery and diagnostics by names relative to its namespace,
and to the fleet manager on the fleet-level topics (``/fleet/...``).
"""

import os

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from fleet_common.launcher import ENV as STOP_WITH_PID


def arguments() -> list:
    """Return this launch file's arguments, each with its description."""
    return [
        DeclareLaunchArgument(
            'robot_id', description='Id of the robot in the fleet (as in fleet.yaml).'),
        # Empty means the robot id (not a default of robot_id: a namespace launch
        # configuration set by an including launch file, e.g. fleet.launch.py's, would win).
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='ROS namespace of the robot (where its Nav2, odom, battery_state and '
                        'diagnostics are); empty: the robot id; / for none.'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false', choices=['true', 'false'],
            description='Use the /clock topic (a simulator\'s time) instead of the wall clock.'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([FindPackageShare('fleet_bringup'), 'config',
                                                'params.yaml']),
            description='Node parameters YAML, keyed by node name: a /**/fleet_agent section '
                        'applies to the agent in any namespace, a fleet_agent section only to '
                        'an agent without one.'),
        DeclareLaunchArgument(
            'software_version', default_value='',
            description='Software version the agent reports; empty: the software_version of '
                        'params_file.'),
    ]


def _agent(context: LaunchContext) -> list:
    """Return the agent node, with what the command line gave over the params file."""
    robot_id = LaunchConfiguration('robot_id').perform(context)
    namespace = LaunchConfiguration('namespace').perform(context) or robot_id
    # Strings stay strings (robot 007, version 1.10), never YAML-typed.
    overrides = {'robot_id': ParameterValue(robot_id, value_type=str),
                 'use_sim_time': LaunchConfiguration('use_sim_time')}
    version = LaunchConfiguration('software_version').perform(context)
    if version:
        overrides['software_version'] = ParameterValue(version, value_type=str)
    return [Node(package='fleet_agent', executable='fleet_agent', name='fleet_agent',
                 namespace='/' + namespace.strip('/'), output='screen',
                 parameters=[LaunchConfiguration('params_file'), overrides],
                 # The agent stops when this launch exits, also on SIGTERM.
                 additional_env={STOP_WITH_PID: str(os.getpid())})]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*arguments(), OpaqueFunction(function=_agent)])
