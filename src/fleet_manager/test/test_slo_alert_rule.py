"""SLO alerts reach the rule engine: the shipped workflow opens an slo_burn incident."""

import pathlib

from fleet_manager.core.config import load_fleet_config
from fleet_manager.core.incidents import sequential_ids
from fleet_manager.core.model import Event
from fleet_manager.core.rules import load_workflows
from fleet_manager.core.runbooks import load_runbooks
from fleet_manager.incident_flow import IncidentFlow
from fleet_manager.incidents_feature import FLEET_ROBOT

CONFIG = pathlib.Path(__file__).resolve().parents[3] / 'src' / 'fleet_bringup' / 'config'


def test_page_alert_opens_an_slo_incident_and_a_ticket_does_not() -> None:
    now = 1_800_000_000.0
    flow = IncidentFlow(load_workflows(CONFIG / 'workflows.yaml'),
                        load_runbooks(CONFIG / 'runbooks'),
                        load_fleet_config(CONFIG / 'fleet.yaml'), lambda: now, sequential_ids())
    ticket = Event(1, now, 'slo.alert', FLEET_ROBOT,
                   {'slo': 'mission_success', 'alert': 'ticket-3d', 'state': 'firing',
                    'severity': 'ticket'})
    assert flow.on_event(ticket, None, now).incidents == []
    page = Event(2, now, 'slo.alert', FLEET_ROBOT,
                 {'slo': 'mission_success', 'alert': 'page-1h', 'state': 'firing',
                  'severity': 'page'})
    res = flow.on_event(page, None, now)
    [incident] = res.incidents
    assert incident.type == 'slo_burn' and incident.robot_id == FLEET_ROBOT
    assert incident.runbook and incident.runbook['title'] == 'SLO error budget burning fast'
