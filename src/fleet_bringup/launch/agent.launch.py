"""Launch one robot's fleet agent in the robot's namespace.

    ros2 launch fleet_manager agent.launch.py robot_id:=robot1
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare('fleet_manager')
    return LaunchDescription([
        DeclareLaunchArgument('robot_id', description='Id of the robot; also its namespace.'),
        DeclareLaunchArgument(
            'params_file', default_value=PathJoinSubstitution([share, 'config', 'params.yaml']),
            description='Node parameters YAML, keyed by node name (section fleet_agent).'),
        DeclareLaunchArgument('software_version', default_value='0.0.0',
                              description='Software version the agent reports.'),
        Node(package='fleet_agent', executable='fleet_agent', name='fleet_agent',
             namespace=LaunchConfiguration('robot_id'), output='screen',
             parameters=[LaunchConfiguration('params_file'),
                         {'robot_id': LaunchConfiguration('robot_id'),
                          'software_version': LaunchConfiguration('software_version')}]),
    ])
