"""Launch the fleet manager (a lifecycle node) and the HTTP bridge.

    ros2 launch fleet_bringup fleet.launch.py database:=/var/lib/fleet/fleet.db port:=8080
    ros2 launch fleet_bringup fleet.launch.py --show-args

Nodes (each in ``namespace``, default none): ``fleet_manager`` and ``fleet_web``.

With ``autostart:=true`` (the default) this launch configures the manager once and, when that
configuration succeeded, activates it once. It never drives a transition again: a later
``ros2 lifecycle set /fleet_manager deactivate`` (or cleanup, configure, ...) is the user's
and stays in force. With ``autostart:=false`` the manager stays unconfigured for a lifecycle
manager to drive. The event pattern used here works on Humble and every Jazzy
(``LifecycleNode(autostart=True)`` needs launch_ros 0.26.7 or newer).
"""

import os

from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

from fleet_common.launcher import ENV as STOP_WITH_PID


def arguments() -> list:
    """Return this launch file's arguments, each with its description."""
    return [
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='ROS namespace of the manager and the bridge (empty: none). The manager '
                        'serves fleet/* under it; the bridge is told where to find them.'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false', choices=['true', 'false'],
            description='Use the /clock topic (a simulator\'s time) instead of the wall clock.'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([FindPackageShare('fleet_bringup'), 'config',
                                                'params.yaml']),
            description='Node parameters YAML, keyed by node name (section fleet_manager; use '
                        '/**/fleet_manager to match the manager in any namespace).'),
        DeclareLaunchArgument(
            'autostart', default_value='true', choices=['true', 'false'],
            description='Configure the manager, then activate it, once at start; false leaves '
                        'every transition to a lifecycle manager.'),
        DeclareLaunchArgument(
            'fleet_config', default_value='',
            description='Fleet definition YAML (robots, capabilities, docks, named areas); empty: '
                        'the fleet_config of params_file (empty there: the installed '
                        'config/fleet.yaml).'),
        DeclareLaunchArgument(
            'database', default_value='',
            description='Path of the SQLite fleet store; empty: the database of params_file '
                        '(fleet.db in the working directory).'),
        DeclareLaunchArgument('host', default_value='127.0.0.1',
                              description='Address the HTTP bridge listens on.'),
        DeclareLaunchArgument('port', default_value='8080',
                              description='TCP port of the HTTP bridge.'),
        DeclareLaunchArgument(
            'web_config', default_value='',
            description='Bridge config YAML (API keys, rate limit, webhooks); empty: the '
                        'installed config/web.yaml. FLEET_TOKEN in the environment adds an '
                        'admin key.'),
        DeclareLaunchArgument(
            'web_state', default_value='fleet_web.db',
            description='Path of the bridge\'s own SQLite (webhook outbox, event-log cursor).'),
    ]


def _arg(context: LaunchContext, name: str) -> str:
    return LaunchConfiguration(name).perform(context)


def _nodes(context: LaunchContext) -> list:
    """Return the manager, its start-up transitions and the bridge, in ``namespace``."""
    namespace = _arg(context, 'namespace').strip('/')
    # Each process stops when this launch exits, also on SIGTERM (fleet_common.launcher).
    stop_with_launch = {STOP_WITH_PID: str(os.getpid())}
    use_sim_time = LaunchConfiguration('use_sim_time')
    params_file = LaunchConfiguration('params_file')
    # Only what was given on the command line overrides the params file.
    overrides = {name: ParameterValue(_arg(context, name), value_type=str)
                 for name in ('fleet_config', 'database') if _arg(context, name)}
    manager = LifecycleNode(
        package='fleet_manager', executable='fleet_manager', name='fleet_manager',
        namespace=namespace, output='screen', arguments=['--no-autostart'],
        additional_env=stop_with_launch,
        parameters=[params_file, {'use_sim_time': use_sim_time, **overrides}])
    autostart = IfCondition(LaunchConfiguration('autostart'))

    def change_state(transition: int, **kwargs) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(manager),
                                           transition_id=transition), **kwargs)

    # Activate after the first successful configuration only (configuring -> inactive),
    # and once: deactivating -> inactive, or a later reconfiguration, is left alone.
    activate_once = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=manager, start_state='configuring', goal_state='inactive',
        entities=[change_state(Transition.TRANSITION_ACTIVATE)], handle_once=True),
        condition=autostart)
    report_failure = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=manager, start_state='configuring', goal_state='unconfigured',
        entities=[LogInfo(msg='fleet_manager did not configure (its log says why); '
                              'it stays unconfigured')], handle_once=True),
        condition=autostart)
    configure = change_state(Transition.TRANSITION_CONFIGURE, condition=autostart)
    # The manager creates its database's directory; the bridge does not (yet), and may open
    # its state first.
    web_state_dir = os.path.dirname(_arg(context, 'web_state'))
    if web_state_dir:
        os.makedirs(web_state_dir, exist_ok=True)
    web_params = {'use_sim_time': use_sim_time}
    if namespace:
        web_params['manager_namespace'] = f'/{namespace}'
    web = Node(
        package='fleet_web', executable='fleet_web', name='fleet_web', namespace=namespace,
        output='screen', parameters=[params_file, web_params], additional_env=stop_with_launch,
        arguments=['--host', LaunchConfiguration('host'),
                   '--port', LaunchConfiguration('port'),
                   '--config', LaunchConfiguration('web_config'),
                   '--state', LaunchConfiguration('web_state')])
    return [manager, activate_once, report_failure, configure, web]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*arguments(), OpaqueFunction(function=_nodes)])
