"""The shipped Foxglove layout shows what its panels can show.

Foxglove's Log panel renders only ``rcl_interfaces/msg/Log`` (``/rosout``); the fleet's own
events (``FleetEvent``) go to a Raw Messages panel. The robots table is a Table panel over
the registry's array of robots (``/fleet/robots.robots``), one row per robot, not over the
summary's counts. Every panel configured is placed in the layout.
"""

import json
import pathlib

from fleet_msgs.msg import FleetEvent, FleetRobots, FleetSummary, Incident, Mission

LAYOUT = (pathlib.Path(__file__).resolve().parents[3] / 'src' / 'fleet_bringup' / 'config'
          / 'foxglove_layout.json')
# The fleet topics the manager publishes, with their types.
TOPICS = {'/fleet/events': FleetEvent, '/fleet/robots': FleetRobots,
          '/fleet/summary': FleetSummary, '/fleet/incidents': Incident,
          '/fleet/missions': Mission}


def _leaves(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    assert isinstance(node, dict)
    return _leaves(node['first']) + _leaves(node['second'])


def test_every_panel_shows_a_topic_it_can_render() -> None:
    layout = json.loads(LAYOUT.read_text())
    panels = layout['configById']
    assert sorted(_leaves(layout['layout'])) == sorted(panels)
    for panel, config in panels.items():
        kind = panel.split('!')[0]
        if kind == 'Log':
            assert config['topicToRender'] == '/rosout', panel
        elif kind in ('RawMessages', 'Table'):
            topic, _, path = config['topicPath'].partition('.')
            assert topic in TOPICS, panel
            if path:
                fields = TOPICS[topic].get_fields_and_field_types()
                assert fields.get(path, '').startswith('sequence<'), (panel, fields)
    assert panels['Table!robots']['topicPath'] == '/fleet/robots.robots'
    assert any(c.get('topicPath') == '/fleet/events' for p, c in panels.items()
               if p.startswith('RawMessages!'))
