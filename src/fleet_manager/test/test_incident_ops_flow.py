"""IncidentFlow with incident operations: grouping, inhibition, silences, postmortem drafts.

The real config/workflows.yaml and fleet.yaml, a fake clock, no ROS.
"""

from __future__ import annotations

import itertools
import pathlib

import pytest
from test_incident_flow import FakeClock, make_flow, record, robot_event, stuck

from fleet_manager.core.errors import ConfigError
from fleet_manager.core.grouping import GroupingSettings
from fleet_manager.core.model import NewEvent
from fleet_manager.core.postmortem import from_markdown, to_markdown
from fleet_manager.incident_flow import (
    INCIDENT_OPENED,
    INCIDENT_UPDATED,
    NOTIFICATION_SENT,
    FlowResult,
    IncidentFlow,
)
from fleet_manager.incident_ops import IncidentOps, OpsSettings, load_ops_settings

CONFIG = pathlib.Path(__file__).resolve().parents[3] / 'src' / 'fleet_bringup' / 'config'


def with_ops(flow: IncidentFlow, clock: FakeClock, window: float = 60.0) -> IncidentOps:
    counter = itertools.count(1)
    flow.ops = IncidentOps(OpsSettings(GroupingSettings(window=window)), clock,
                           lambda: f'SIL-{next(counter)}')
    return flow.ops


def offline(flow: IncidentFlow, clock: FakeClock, robot: str, to: str = 'offline'
            ) -> FlowResult:
    return flow.on_event(NewEvent('robot.connectivity', robot,
                                  {'from': 'stale', 'to': to, 'reason': 'no status'}),
                         record(robot), clock.now)


def kinds(res: FlowResult) -> list[str]:
    return [e.kind for e in res.events]


def test_ten_robots_offline_together_open_one_incident_listing_them() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    with_ops(flow, clock)
    robots = [f'robot{i}' for i in range(1, 11)]
    results = []
    for robot in robots:
        clock.now += 2.0
        results.append(offline(flow, clock, robot))
    opened = [e for r in results for e in r.events if e.kind == INCIDENT_OPENED]
    assert len(opened) == 1
    inc = flow.get(opened[0].payload['id'])
    assert inc.context['robots'] == robots and inc.count == 10
    assert results[-1].events[-1].kind == INCIDENT_UPDATED
    assert results[-1].events[-1].payload['robots'] == robots
    pages = [e for r in results for e in r.events if e.kind == NOTIFICATION_SENT]
    assert len(pages) == 1  # one page for the site, not ten
    clock.now += 61.0  # the window closed: a later failure is a new incident
    assert INCIDENT_OPENED in kinds(offline(flow, clock, 'robot11'))


def test_offline_robot_inhibits_its_stuck_incident_and_records_it() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    with_ops(flow, clock)
    res = offline(flow, clock, 'robot1')
    off = res.incidents[0]
    res = stuck(flow, clock)
    assert INCIDENT_OPENED not in kinds(res)
    assert [i['type'] for i in off.context['inhibited']] == ['robot_stuck']
    assert any(e.kind == 'inhibited' for e in off.timeline)
    # robot2 is not offline: its stuck incident opens
    clock.now += 5
    for seq in range(1, 4):
        clock.now += 60
        res = flow.on_event(robot_event('recovery_started', robot='robot2', seq=seq),
                            record('robot2'), clock.now)
    assert INCIDENT_OPENED in kinds(res)


def test_silence_mutes_pages_and_marks_events_until_it_expires() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    ops = with_ops(flow, clock)
    silence = ops.silences.create({'matchers': ['type=robot_offline', 'robot=robot1'],
                                   'duration': 600, 'comment': 'swapping its AP'}, 'alice')
    res = offline(flow, clock, 'robot1')
    assert NOTIFICATION_SENT not in kinds(res)
    opened = [e for e in res.events if e.kind == INCIDENT_OPENED][0]
    assert opened.payload['silenced_by'] == [silence.id]
    inc = res.incidents[0]
    assert any(e.kind == 'silenced' for e in inc.timeline)
    assert ops.silences.get(silence.id).muted == 1
    flow.resolve(inc.id, 'alice', 'AP swapped', clock.now)
    clock.now += 601  # expired: the next one pages
    offline(flow, clock, 'robot1', to='online')
    res = offline(flow, clock, 'robot1')
    assert NOTIFICATION_SENT in kinds(res)
    assert 'silenced_by' not in [e for e in res.events if e.kind == INCIDENT_OPENED][0].payload


def test_resolving_a_sev1_drafts_a_postmortem_with_the_timeline() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    with_ops(flow, clock)
    flow.on_status(record(battery=0.5), clock.now)
    clock.now += 1
    res = flow.on_status(record(battery=0.1), clock.now)
    inc = [i for i in res.incidents if i.type == 'battery_critical'][0]
    assert inc.severity.value == 'SEV1'
    flow.acknowledge(inc.id, 'alice', 'on it', clock.now + 5)
    res = flow.resolve(inc.id, 'alice', 'charged', clock.now + 60)
    pm = res.postmortem
    assert pm is not None and pm.incident_id == inc.id
    assert [t.kind for t in pm.timeline][-2:] == ['acknowledged', 'resolved']
    assert from_markdown(to_markdown(pm)) == pm
    # a SEV2 gets none
    res = offline(flow, clock, 'robot2')
    assert flow.resolve(res.incidents[0].id, 'bob', 'back', clock.now).postmortem is None


def test_shipped_incident_ops_yaml_loads_and_bad_files_name_the_key(
        tmp_path: pathlib.Path) -> None:
    settings = load_ops_settings(str(CONFIG / 'incident_ops.yaml'))
    assert settings.grouping.window > 0 and settings.inhibit
    bad = tmp_path / 'incident_ops.yaml'
    bad.write_text('grouping: {window: -1}\n')
    with pytest.raises(ConfigError) as info:
        load_ops_settings(str(bad))
    assert info.value.key == 'grouping.window'


def slo_page(flow: IncidentFlow, clock: FakeClock) -> FlowResult:
    """A page-severity SLO burn alert, as the incidents feature hands it on (robot 'fleet')."""
    return flow.on_event(NewEvent('slo.alert', 'fleet', {
        'slo': 'mission_success', 'alert': 'fast', 'state': 'firing', 'severity': 'page',
        'burn_long': 20.0, 'burn_short': 30.0}), None, clock.now)


def test_offline_robots_inhibit_the_sites_slo_burn() -> None:
    clock = FakeClock()
    flow = make_flow(clock)
    with_ops(flow, clock)
    off = offline(flow, clock, 'robot1').incidents[0]
    clock.now += 5
    res = slo_page(flow, clock)
    assert INCIDENT_OPENED not in kinds(res) and NOTIFICATION_SENT not in kinds(res)
    assert [(i['type'], i['rule']) for i in off.context['inhibited']] == [
        ('slo_burn', 'offline_site_no_slo_burn')]
    flow.resolve(off.id, 'alice', 'back', clock.now)
    clock.now += 700  # nothing offline any more: the burn opens its incident
    offline(flow, clock, 'robot1', to='online')
    assert INCIDENT_OPENED in kinds(slo_page(flow, clock))
