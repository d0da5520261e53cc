"""The shipped Grafana dashboard queries only metrics the bridge exports."""

import json
import pathlib
import re

from fleet_web.metrics import Metrics

DASHBOARD = pathlib.Path(__file__).resolve().parents[3] / 'config' / 'grafana_dashboard.json'


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
