"""fleet/markers content over real DDS: one marker per robot, colours by state, removal."""

from __future__ import annotations

import pathlib

from rclpy.parameter import Parameter
from visualization_msgs.msg import Marker, MarkerArray

from fleet_manager.manager_node import FleetManager
from fleet_manager.markers import COLOURS
from fleet_msgs.msg import Pose2D, RobotStatus
from fleet_msgs.srv import SetRobotService
from fleet_testing import Collector, RosGraph, wait_for

FLEET = """
robots: [{id: r1}, {id: r2}, {id: r3}]
map:
  areas: [{name: aisle, x_min: 0, y_min: 0, x_max: 5, y_max: 5}]
"""


def robot_markers(msg: MarkerArray) -> dict[str, Marker]:
    """The ADDed robot bodies by label text prefix (robot id)."""
    labels = {m.id: m.text.split(' ')[0] for m in msg.markers
              if m.ns == 'labels' and m.action == Marker.ADD}
    bodies = {m.id: m for m in msg.markers if m.ns == 'robots' and m.action == Marker.ADD}
    # Label and body of a robot are created together, so their ids are consecutive.
    return {labels[i + 1]: body for i, body in bodies.items() if i + 1 in labels}


def test_markers_per_robot_coloured_by_state_and_deleted_on_decommission(
        tmp_path: pathlib.Path) -> None:
    (tmp_path / 'fleet.yaml').write_text(FLEET)
    graph = RosGraph()
    try:
        manager = graph.add(FleetManager(context=graph.context, parameter_overrides=[
            Parameter('database', value=str(tmp_path / 'fleet.db')),
            Parameter('fleet_config', value=str(tmp_path / 'fleet.yaml')),
            Parameter('tick_period', value=0.05), Parameter('report_period', value=0.2)]))
        manager.trigger_configure()
        manager.trigger_activate()
        for f in manager.features:
            f._markers_period = 0.1  # publish often for the test
        node = graph.node('marker_test')
        markers = Collector(node, MarkerArray, 'fleet/markers', 10)
        pub = node.create_publisher(RobotStatus, '/fleet/robot_status', 10)
        wait_for(lambda: pub.get_subscription_count() > 0, message='manager subscribed')
        for seq, (rid, mode) in enumerate([('r1', 1), ('r2', 2), ('r3', 4)], start=1):
            pub.publish(RobotStatus(robot_id=rid, seq=seq, mode=mode, battery=0.5,
                                    pose=Pose2D(x=float(seq), y=1.0), report_period=10.0))

        def three() -> dict[str, Marker] | None:
            msgs = markers.snapshot()
            found = robot_markers(msgs[-1]) if msgs else {}
            return found if len(found) == 3 else None
        found = wait_for(three, message='three robot markers')
        for rid, key in (('r1', 'idle'), ('r2', 'working'), ('r3', 'error')):
            c = found[rid].color
            assert (round(c.r, 2), round(c.g, 2), round(c.b, 2)) == COLOURS[key], rid
        assert abs(found['r2'].pose.position.x - 2.0) < 1e-9
        areas = [m for m in markers.snapshot()[-1].markers if m.ns == 'areas']
        assert [m.text for m in areas] == ['aisle']

        client = node.create_client(SetRobotService, 'fleet/set_robot_service')
        resp = graph.call(client, SetRobotService.Request(robot_id='r2', in_service=False))
        assert resp.success
        r2_id = found['r2'].id

        def deleted() -> bool:
            for msg in markers.snapshot()[-5:]:
                if any(m.ns == 'robots' and m.id == r2_id and m.action == Marker.DELETE
                       for m in msg.markers):
                    return True
            return False
        wait_for(deleted, message='DELETE marker for the decommissioned robot')
        wait_for(lambda: set(robot_markers(markers.snapshot()[-1])) == {'r1', 'r3'},
                 message='only r1 and r3 drawn')
    finally:
        graph.close()
