"""Prometheus metrics of the bridge, on a registry of its own (served at /metrics)."""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fleet_web.robots_snapshot import connectivity_counts
from fleet_web.status import BridgeHealth

TERMINAL = ('succeeded', 'failed', 'canceled')


class Metrics:
    """Every metric the bridge exports; fed by the event pump, the HTTP middleware and the
    webhook worker."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.robots = Gauge('fleet_robots', 'Robots by connectivity', ['connectivity'],
                            registry=r)
        self.missions = Counter('fleet_mission_transitions', 'Mission state transitions '
                                'seen in the event log, by the state entered', ['state'],
                                registry=r)
        self.mission_duration = Histogram(
            'fleet_mission_duration_seconds', 'Time from submission to the end of a mission, '
            'by outcome', ['outcome'], registry=r,
            buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, float('inf')))
        self.incidents_open = Gauge('fleet_incidents_open', 'Open (unresolved) incidents',
                                    registry=r)
        self.recoveries = Counter('fleet_recoveries', 'Nav2 recovery behaviours started, by '
                                  'robot', ['robot'], registry=r)
        self.webhooks = Counter('fleet_webhook_deliveries', 'Webhook delivery attempts by '
                                'subscription and outcome (delivered, retry, dead)',
                                ['subscription', 'outcome'], registry=r)
        self.http = Histogram('fleet_http_request_duration_seconds', 'HTTP request latency '
                              'by route', ['method', 'route', 'status'], registry=r,
                              buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                                       5, float('inf')))
        self.events = Counter('fleet_events_consumed', 'Event-log entries the bridge read',
                              registry=r)
        self.last_event_id = Gauge('fleet_event_log_cursor', 'Id of the last event-log entry '
                                   'the bridge processed', registry=r)
        self.kpi_success = Gauge('fleet_kpi_mission_success_ratio', 'Mission success ratio '
                                 'over the KPI window, by robot', ['robot'], registry=r)
        self.kpi_success_version = Gauge('fleet_kpi_mission_success_ratio_by_version',
                                         'Mission success ratio over the KPI window, by '
                                         'software version', ['software_version'], registry=r)
        self.kpi_recoveries_area = Gauge('fleet_kpi_recoveries_by_area', 'Recoveries started '
                                         'over the KPI window, by named area', ['area'],
                                         registry=r)
        self.kpi_interventions = Gauge('fleet_kpi_interventions', 'Interventions over the KPI '
                                       'window, by shift', ['shift'], registry=r)
        self.kpi_utilization = Gauge('fleet_kpi_utilization_ratio', 'Share of telemetry '
                                     'samples in which the robot was working', ['robot'],
                                     registry=r)
        self.kpi_mtta = Gauge('fleet_kpi_mean_time_to_acknowledge_seconds', 'Mean time to '
                              'acknowledge incidents over the KPI window', registry=r)
        self.kpi_mttr = Gauge('fleet_kpi_mean_time_to_resolve_seconds', 'Mean time to resolve '
                              'incidents over the KPI window', registry=r)
        self.auth_failures = Counter('fleet_http_auth_failures', 'Requests refused for a '
                                     'missing or unknown bearer token', registry=r)
        self.bridge_ok = Gauge('fleet_bridge_component_ok', 'Whether a part of the bridge '
                               'works (1) or is degraded (0): storage, webhook pump, webhook '
                               'worker', ['component'], registry=r)
        self.subscription_enabled = Gauge('fleet_webhook_subscription_enabled', 'Whether a '
                                          'webhook subscription is enabled (0: its receiver '
                                          'answered 410 Gone)', ['subscription'], registry=r)
        self.kpis_at = float('-inf')
        """Monotonic time of the last KPI refresh."""
        self.storage_probed_at = float('-inf')
        """Unix time of the last storage probe (see fleet_web.views.health)."""
        self._started: dict[str, float] = {}
        self._open: set[str] = set()

    def observe_event(self, event: dict[str, Any], when: float) -> None:
        """Account for one event-log entry (``when``: its time, epoch seconds)."""
        self.events.inc()
        self.last_event_id.set(event['id'])
        kind, payload = event['kind'], event.get('payload') or {}
        if kind == 'mission.state':
            state = str(payload.get('state', ''))
            mission = str(payload.get('mission_id', ''))
            self.missions.labels(state).inc()
            if payload.get('from') is None and mission:
                if len(self._started) > 100_000:  # bounded: forget the oldest
                    self._started.pop(next(iter(self._started)))
                self._started[mission] = when
            elif state in TERMINAL and mission in self._started:
                self.mission_duration.labels(state).observe(when - self._started.pop(mission))
        elif kind == 'robot.event':
            if str(payload.get('type', '')) == 'recovery_started':
                self.recoveries.labels(event.get('robot_id') or '').inc()
        elif kind.startswith('incident.'):
            incident = str(payload.get('id') or payload.get('incident_id') or '')
            if kind == 'incident.opened' and incident:
                self._open.add(incident)
            elif kind == 'incident.resolved':
                self._open.discard(incident)
            self.incidents_open.set(len(self._open))

    def reset_open_incidents(self, ids: Collection[str]) -> None:
        """Set the open incidents to ``ids``, as the manager reports them now.

        Called when the bridge starts, before it reads the log from its cursor: the gauge
        says what is open, not only what opened since the cursor. Events read afterwards
        (even ones older than this listing) keep it right: an incident is never reopened, so
        adding an opened one and removing a resolved one in log order ends where the
        manager is."""
        self._open = set(ids)
        self.incidents_open.set(len(self._open))

    def set_bridge_health(self, health: BridgeHealth, subscriptions: Collection[str],
                          disabled: Mapping[str, Any]) -> None:
        """Refresh the bridge's own health gauges."""
        for name, part in (('storage', health.storage), ('webhook_pump', health.pump),
                           ('webhook_worker', health.worker)):
            self.bridge_ok.labels(name).set(1 if part.healthy else 0)
        for name in subscriptions:
            self.subscription_enabled.labels(name).set(0 if name in disabled else 1)

    def set_robots(self, robots: Sequence[dict[str, Any]]) -> None:
        """Refresh the connectivity gauge from a robot list."""
        for state, n in connectivity_counts(robots).items():
            self.robots.labels(state).set(n)

    def set_kpis(self, report: dict[str, Any]) -> None:
        """Refresh the KPI gauges from the manager's ``kpis`` report (GET /api/v1/kpis)."""
        missions = report.get('missions') or {}
        for gauge, table in ((self.kpi_success, missions.get('per_robot')),
                             (self.kpi_success_version, missions.get('per_software_version'))):
            gauge.clear()
            for name, row in (table or {}).items():
                if row.get('success_rate') is not None:
                    gauge.labels(name).set(row['success_rate'])
        self.kpi_recoveries_area.clear()
        for area, n in ((report.get('recoveries') or {}).get('per_area') or {}).items():
            self.kpi_recoveries_area.labels(area).set(n)
        self.kpi_interventions.clear()
        for shift, n in ((report.get('interventions') or {}).get('per_shift') or {}).items():
            self.kpi_interventions.labels(shift).set(n)
        self.kpi_utilization.clear()
        for robot, ratio in (report.get('utilization') or {}).items():
            self.kpi_utilization.labels(robot).set(ratio)
        incidents = report.get('incidents') or {}
        for gauge, key in ((self.kpi_mtta, 'mean_time_to_acknowledge_s'),
                           (self.kpi_mttr, 'mean_time_to_resolve_s')):
            value = incidents.get(key)
            gauge.set(float('nan') if value is None else value)
