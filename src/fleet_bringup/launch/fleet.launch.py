"""Launch the fleet manager (a lifecycle node, configured and activated on start) and the
HTTP bridge.

    ros2 launch fleet_manager fleet.launch.py database:=/var/lib/fleet/fleet.db port:=8080
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare('fleet_manager')
    args = [
        DeclareLaunchArgument(
            'params_file', default_value=PathJoinSubstitution([share, 'config', 'params.yaml']),
            description='Node parameters YAML, keyed by node name.'),
        DeclareLaunchArgument(
            'fleet_config', default_value=PathJoinSubstitution([share, 'config', 'fleet.yaml']),
            description='Fleet definition: robots, capabilities, docks and named areas.'),
        DeclareLaunchArgument('database', default_value='fleet.db',
                              description='Path of the SQLite fleet store.'),
        DeclareLaunchArgument('host', default_value='127.0.0.1',
                              description='Address the HTTP bridge listens on.'),
        DeclareLaunchArgument('port', default_value='8080',
                              description='TCP port of the HTTP bridge.'),
    ]
    manager = LifecycleNode(
        package='fleet_manager', executable='fleet_manager', name='fleet_manager',
        namespace='', output='screen', arguments=['--no-autostart'],
        parameters=[LaunchConfiguration('params_file'),
                    {'fleet_config': LaunchConfiguration('fleet_config'),
                     'database': LaunchConfiguration('database')}])
    # Configure on start, activate once inactive: works on Humble and every Jazzy
    # (LifecycleNode(autostart=True) needs launch_ros 0.26.7 or newer).
    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=matches_action(manager),
        transition_id=Transition.TRANSITION_CONFIGURE))
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=manager, goal_state='inactive',
        entities=[EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(manager),
            transition_id=Transition.TRANSITION_ACTIVATE))]))
    web = Node(
        package='fleet_web', executable='fleet_web', name='fleet_web', output='screen',
        arguments=['--host', LaunchConfiguration('host'), '--port', LaunchConfiguration('port')])
    return LaunchDescription([*args, manager, activate, configure, web])
