"""Stand-ins for a robot's Nav2 nodes that only hold parameters, for drift and reconcile.

A real robot's ``controller_server`` and ``local_costmap`` are Nav2 nodes whose parameters
an engineer may change by hand (``ros2 param set /robot1/controller_server ...``). The
simulated base (:mod:`fleet_sim.sim_node`) does not run them, so :class:`Nav2ParamNode`
declares the usual parameters (:data:`NAV2_PARAMETERS`) under the same node names, with
real parameter services: the agent reads and sets them exactly as it would on a robot.

``python -m fleet_sim.nav2_params robot1 robot2`` runs them for some robots; tests and the
simulator create them with :func:`nav2_param_nodes`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping

from rcl_interfaces.msg import ParameterDescriptor
import rclpy
from rclpy.node import Node

from fleet_common.ros import run_nodes

NAV2_PARAMETERS: dict[str, dict[str, Any]] = {
    'controller_server': {
        'controller_frequency': 20.0,                 # Hz
        'FollowPath.desired_linear_vel': 0.8,         # m/s
        'FollowPath.max_angular_accel': 3.2,          # rad/s^2
        'FollowPath.lookahead_dist': 0.6,             # m
        'FollowPath.use_rotate_to_heading': True,
    },
    'local_costmap/local_costmap': {
        'update_frequency': 5.0,                      # Hz
        'robot_radius': 0.3,                          # m
        'inflation_layer.inflation_radius': 0.55,     # m
        'inflation_layer.cost_scaling_factor': 3.0,
        'plugins': ['voxel_layer', 'inflation_layer'],
    },
}
"""Node name (relative to the robot's namespace) -> parameter -> default value."""


class Nav2ParamNode(Node):
    """One Nav2 node's parameters, served by the node's parameter services."""

    def __init__(self, robot_id: str, name: str, params: Mapping[str, Any],
                 **kwargs: Any) -> None:
        namespace, _, node_name = f'{robot_id}/{name}'.rpartition('/')
        super().__init__(node_name, namespace=f'/{namespace}', **kwargs)
        for param, value in params.items():
            self.declare_parameter(param, value, ParameterDescriptor(
                description=f'simulated Nav2 parameter of {name}'))


def nav2_param_nodes(robot_id: str, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                     **kwargs: Any) -> list[Nav2ParamNode]:
    """Create the parameter nodes of :data:`NAV2_PARAMETERS` for one robot (``overrides``:
    node -> parameter -> initial value)."""
    overrides = overrides or {}
    return [Nav2ParamNode(robot_id, name, {**params, **overrides.get(name, {})}, **kwargs)
            for name, params in NAV2_PARAMETERS.items()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='fleet_sim_nav2_params',
        description='Serve the parameters of simulated Nav2 nodes (controller_server, '
                    'local_costmap) for some robots until Ctrl-C or SIGTERM.')
    p.add_argument('robots', nargs='+', help='robot ids, e.g. robot1 robot2')
    return p


def main(args: list[str] | None = None) -> None:
    """Run the parameter nodes of the robots named on the command line."""
    argv = args if args is not None else sys.argv
    options = build_parser().parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    raise SystemExit(run_nodes(lambda: [n for r in options.robots for n in nav2_param_nodes(r)],
                               argv))


if __name__ == '__main__':
    main()
