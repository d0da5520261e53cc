"""Observability feature of the manager: SLOs with error budgets, KPIs, RViz markers.

SLO inputs come from the event log (mission outcomes, connectivity changes, incident
acknowledgements), so after a restart the SLOs are rebuilt by replaying the log. Alert
transitions are logged as ``slo.alert`` events, which the rule engine can take as triggers.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from visualization_msgs.msg import MarkerArray

from fleet_common.events import EventKind, SloAlert
from fleet_manager import convert
from fleet_manager.core.errors import ConfigError
from fleet_manager.core.kpis import compute_kpis, utilization
from fleet_manager.core.model import Event, NewEvent, RobotRecord, StatusReport
from fleet_manager.core.slo import SLI_KINDS, HealthSample, IncidentAck, MissionOutcome, SloEngine
from fleet_manager.core.slo_config import load_slos
from fleet_manager.features import FeatureHost
from fleet_manager.markers import MarkerBuilder
from fleet_manager.pipeline import Changes
from fleet_msgs.srv import GetReport

SLO_ALERT_EVENT = EventKind.SLO_ALERT.value
TERMINAL = ('succeeded', 'failed')


class ObservabilityFeature:
    """SLO engine fed from the event log, the get_report service and fleet/markers."""

    name = 'observability'

    def __init__(self, slo_path: str, open_incidents: Callable[[], list[dict[str, Any]]],
                 evaluate_period: float = 10.0, markers_period: float = 1.0,
                 kpi_window: float = 7 * 86400.0) -> None:
        self._slo_path = slo_path
        self._open_incidents = open_incidents
        self._evaluate_period = evaluate_period
        self._markers_period = markers_period
        self._kpi_window = kpi_window
        self._host: FeatureHost | None = None
        self.engine: SloEngine | None = None
        self._markers_pub: Any = None
        self._service: Any = None
        self._builder: MarkerBuilder | None = None
        self._evaluated_at = 0.0
        self._markers_at = 0.0
        self._recoveries: dict[str, int] = {}
        self._incident_opened: dict[str, float] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def configure(self, host: FeatureHost) -> str:
        try:
            specs = load_slos(self._slo_path) if self._slo_path else []
        except ConfigError as exc:
            return str(exc)
        self._host = host
        self.engine = SloEngine(specs)
        self._builder = MarkerBuilder(host.fleet.frame_id)
        self._markers_pub = host.create_publisher(MarkerArray, 'fleet/markers', 10)
        self._service = host.create_service(GetReport, 'fleet/get_report', self._srv_report)
        return ''

    def history_windows(self) -> dict[str, float]:
        """Return what this feature reads from the event log -> the seconds of history it
        needs: the KPI report's window and each SLO's period (after configure)."""
        out = {'the KPI report window': self._kpi_window}
        for spec in self.engine.specs if self.engine is not None else []:
            out[f'the period_s of SLO {spec.name}'] = float(spec.period_s)
        return out

    def teardown(self) -> None:
        if self._host is not None:
            self._host.destroy(self._markers_pub)
            self._host.destroy(self._service)
        self._host = self._markers_pub = self._service = None

    # -- inputs ------------------------------------------------------------------------------
    def _kinds(self, sli: str) -> list[str]:
        assert self.engine is not None
        return [s.name for s in self.engine.specs if s.sli == sli]

    def _feed(self, e: Event) -> None:
        p = e.payload
        if e.kind == 'mission.state':
            mission = str(p.get('mission_id', ''))
            if p.get('state') == 'active':
                self._recoveries.setdefault(mission, 0)
            if p.get('state') in TERMINAL:
                intervened = bool(p.get('interventions'))
                for name in self._kinds('mission_success'):
                    self.engine.record(name, MissionOutcome(  # type: ignore[union-attr]
                        e.time, p['state'] == 'succeeded', intervened))
        elif e.kind == 'robot.connectivity':
            for name in self._kinds('availability'):
                self.engine.record(name, HealthSample(  # type: ignore[union-attr]
                    e.time, e.robot_id, p.get('to') == 'online'))
        elif e.kind == 'incident.opened':
            incident = str(p.get('id', ''))
            self._incident_opened[incident] = e.time
            for name in self._kinds('ack_time'):
                self.engine.record(name, IncidentAck(incident, e.time))  # type: ignore
        elif e.kind == 'incident.acknowledged':
            incident = str(p.get('id', ''))
            opened = self._incident_opened.pop(incident, None)
            if opened is not None:
                for name in self._kinds('ack_time'):
                    self.engine.record(name, IncidentAck(  # type: ignore[union-attr]
                        incident, opened, e.time))

    def replay(self, events: Sequence[Event], now: float) -> None:
        for e in events:
            self._feed(e)

    def on_events(self, events: Sequence[Event], now: float) -> Changes | None:
        for e in events:
            if e.kind != SLO_ALERT_EVENT:
                self._feed(e)
        return None

    def on_status(self, statuses: Sequence[tuple[StatusReport, RobotRecord]],
                  now: float) -> Changes | None:
        return None

    def tick(self, now: float) -> Changes | None:
        assert self._host is not None
        res = Changes()
        if self.engine is not None and now - self._evaluated_at >= self._evaluate_period:
            self._evaluated_at = now
            for name in self._kinds('availability'):
                # Everyone's state up to now first, in a few grouped credits: each sample
                # then only sets its robot's state (one credit per robot cost 60-80 ms
                # at 10,000 robots).
                self.engine.recorder(name).advance(now)
                for rec in self._host.robots():
                    if not rec.decommissioned:
                        self.engine.record(name, HealthSample.of(
                            now, rec.robot_id, rec.connectivity.value == 'online',
                            rec.diagnostics_level >= 2))
            for t in self.engine.evaluate(now):
                res.events.append(NewEvent.of(SloAlert(
                    slo=t.slo, alert=t.alert, state=str(t.state),
                    severity=str(getattr(t, 'severity', '')), burn_long=float(t.burn_long),
                    burn_short=float(t.burn_short))))
        # Markers are for RViz and Foxglove: built only while one of them subscribes.
        if self._markers_pub is not None and now - self._markers_at >= self._markers_period \
                and self._markers_pub.get_subscription_count() > 0:
            self._markers_at = now
            self.publish_markers()
        return res

    def publish_markers(self) -> None:
        """Publish the fleet's markers now."""
        host = self._host
        assert host is not None and self._builder is not None
        self._markers_pub.publish(self._builder.build(
            host.robots(), host.missions(), self._open_incidents(), host.fleet,
            convert.to_time_msg(host.now())))

    # -- reports -----------------------------------------------------------------------------
    def report(self, name: str, now: float) -> dict[str, Any] | None:
        """Return the named report ('slos' or 'kpis'), or None for an unknown name."""
        host = self._host
        assert host is not None
        if name == 'slos':
            assert self.engine is not None
            if not self.engine.statuses:
                self.engine.evaluate(now)
            statuses = self.engine.statuses
            return {'items': [dict(statuses[s.name].as_dict(), sli_kind=s.sli,
                                   description=s.description)
                              for s in self.engine.specs if s.name in statuses],
                    'kinds': SLI_KINDS.names()}
        if name == 'kpis':
            events = host.store.events_since(now - self._kpi_window)
            out = compute_kpis(events, now, self._kpi_window)
            samples = []
            for rec in host.robots():
                samples += host.store.telemetry(rec.robot_id, now - self._kpi_window, now)
            out['utilization'] = utilization(samples)
            return out
        return None

    def _srv_report(self, req: GetReport.Request,
                    resp: GetReport.Response) -> tuple[Any, None]:
        assert self._host is not None
        report = self.report(req.name, self._host.now())
        if report is None:
            resp.success, resp.error_code = False, GetReport.Response.NOT_FOUND
            resp.error_msg = f'unknown report {req.name!r} (slos, kpis)'
            return resp, None
        resp.success, resp.report_json = True, json.dumps(report, default=str)
        return resp, None
