"""The shipped Grafana dashboard queries only metrics the bridge exports."""

import json
import pathlib
import re

from fleet_web.metrics import Metrics

DASHBOARD = (pathlib.Path(__file__).resolve().parents[3] / 'src' / 'fleet_bringup' / 'config'
             / 'grafana_dashboard.json')


def test_dashboard_queries_exported_metrics() -> None:
    exported = set()
    for family in Metrics().registry.collect():
        exported.add(family.name)
        for sample in family.samples:
            exported.add(sample.name)
    dash = json.loads(DASHBOARD.read_text())
    used = {name for panel in dash['panels'] for target in panel['targets']
            for name in re.findall(r'\bfleet_[a-z_]+', target['expr'])}
    assert used, 'the dashboard queries nothing'
    missing = sorted(n for n in used if n not in exported)
    # Labelled families export no samples until observed: accept the family's suffixes.
    missing = [n for n in missing if re.sub(r'_(total|bucket|sum|count)$', '', n) not in exported]
    assert missing == []


def test_kpi_gauges_follow_the_report() -> None:
    from prometheus_client import generate_latest
    m = Metrics()
    m.set_kpis({
        'missions': {'per_robot': {'r1': {'succeeded': 3, 'failed': 1, 'success_rate': 0.75}},
                     'per_software_version': {'1.2.0': {'succeeded': 3, 'failed': 1,
                                                        'success_rate': 0.75},
                                              'x': {'succeeded': 0, 'failed': 0,
                                                    'success_rate': None}}},
        'recoveries': {'per_robot': {'r1': 4}, 'per_area': {'aisle_b': 4}},
        'interventions': {'per_shift': {'night': 2}},
        'utilization': {'r1': 0.5},
        'incidents': {'opened': 2, 'mean_time_to_acknowledge_s': 90.0,
                      'mean_time_to_resolve_s': None}})
    text = generate_latest(m.registry).decode()
    assert 'fleet_kpi_mission_success_ratio{robot="r1"} 0.75' in text
    assert 'fleet_kpi_mission_success_ratio_by_version{software_version="1.2.0"} 0.75' in text
    assert 'software_version="x"' not in text
    assert 'fleet_kpi_recoveries_by_area{area="aisle_b"} 4.0' in text
    assert 'fleet_kpi_interventions{shift="night"} 2.0' in text
    assert 'fleet_kpi_utilization_ratio{robot="r1"} 0.5' in text
    assert 'fleet_kpi_mean_time_to_acknowledge_seconds 90.0' in text
    assert 'fleet_kpi_mean_time_to_resolve_seconds NaN' in text
    m.set_kpis({'missions': {'per_robot': {}}})  # a robot gone from the window disappears
    assert 'robot="r1"} 0.75' not in generate_latest(m.registry).decode()
