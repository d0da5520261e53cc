"""The routes table: every route of the app, in one place."""

from __future__ import annotations

from aiohttp import web

from fleet_web.views import (
    audit,
    dashboard,
    deliveries,
    desired,
    events,
    health,
    incident_ops,
    incidents,
    missions,
    reports,
    robots,
    rollout_page,
    rollouts,
    site,
)
from fleet_web.views.common import API, Handler

ROUTES: list[tuple[str, str, Handler]] = [
    ('GET', '/', dashboard.dashboard),
    ('GET', '/static/{name}', dashboard.static_file),
    ('GET', '/rollouts', rollout_page.rollouts_page),
    ('GET', f'{API}/health', health.health),
    ('GET', f'{API}/openapi.json', health.openapi),
    ('GET', f'{API}/robots', robots.list_robots),
    ('GET', f'{API}/robots/{{robot_id}}', robots.get_robot),
    ('POST', f'{API}/robots/{{robot_id}}/decommission', robots.decommission),
    ('POST', f'{API}/robots/{{robot_id}}/recommission', robots.recommission),
    ('POST', f'{API}/robots/{{robot_id}}/commands', robots.robot_command),
    ('GET', f'{API}/robots/{{robot_id}}/telemetry', robots.robot_telemetry),
    ('GET', f'{API}/site/map', site.site_map),
    ('GET', f'{API}/events', events.list_events),
    ('GET', f'{API}/events/stream', events.stream_events),
    ('POST', f'{API}/events/stream-ticket', events.stream_ticket),
    ('POST', f'{API}/missions', missions.submit_mission),
    ('GET', f'{API}/missions', missions.list_missions),
    ('GET', f'{API}/missions/{{mission_id}}', missions.get_mission),
    ('GET', f'{API}/missions/{{mission_id}}/events', missions.mission_events),
    ('POST', f'{API}/missions/{{mission_id}}/cancel', missions.cancel_mission),
    ('GET', f'{API}/incidents', incidents.list_incidents),
    ('GET', f'{API}/incidents/{{incident_id}}', incidents.get_incident),
    ('POST', f'{API}/incidents/{{incident_id}}/ack', incidents.ack_incident),
    ('POST', f'{API}/incidents/{{incident_id}}/resolve', incidents.resolve_incident),
    ('GET', f'{API}/silences', incident_ops.list_silences),
    ('POST', f'{API}/silences', incident_ops.create_silence),
    ('DELETE', f'{API}/silences/{{silence_id}}', incident_ops.expire_silence),
    ('GET', f'{API}/postmortems', incident_ops.list_postmortems),
    ('GET', f'{API}/incidents/{{incident_id}}/postmortem', incident_ops.get_postmortem),
    ('PATCH', f'{API}/incidents/{{incident_id}}/postmortem', incident_ops.update_postmortem),
    ('GET', f'{API}/incidents/{{incident_id}}/postmortem.md', incident_ops.postmortem_markdown),
    ('PUT', f'{API}/incidents/{{incident_id}}/postmortem.md', incident_ops.import_postmortem),
    ('GET', f'{API}/slos', reports.slos),
    ('GET', f'{API}/kpis', reports.kpis),
    ('GET', f'{API}/webhooks/deliveries', deliveries.list_deliveries),
    ('POST', f'{API}/webhooks/deliveries/{{delivery_id}}/retry', deliveries.retry_delivery),
    ('GET', f'{API}/webhooks/subscriptions', deliveries.list_subscriptions),
    ('POST', f'{API}/webhooks/subscriptions/{{name}}/enable', deliveries.enable_subscription),
    ('GET', '/metrics', health.metrics),
    ('POST', f'{API}/config/diff', desired.diff),
    ('POST', f'{API}/config/apply', desired.apply),
    ('GET', f'{API}/config', desired.current),
    ('GET', f'{API}/config/revisions', desired.list_revisions),
    ('GET', f'{API}/config/revisions/{{number}}', desired.get_revision),
    ('POST', f'{API}/config/revisions/{{number}}/rollback', desired.rollback),
    ('GET', f'{API}/config/robots', desired.robots),
    ('GET', f'{API}/rollouts', rollouts.list_rollouts),
    ('POST', f'{API}/rollouts', rollouts.create_rollout),
    ('GET', f'{API}/rollouts/{{rollout_id}}', rollouts.get_rollout),
    ('POST', f'{API}/rollouts/{{rollout_id}}/promote', rollouts.promote),
    ('POST', f'{API}/rollouts/{{rollout_id}}/pause', rollouts.pause),
    ('POST', f'{API}/rollouts/{{rollout_id}}/resume', rollouts.resume),
    ('POST', f'{API}/rollouts/{{rollout_id}}/abort', rollouts.abort),
    ('GET', f'{API}/audit', audit.list_audit),
]
"""(method, path, view) of every route; each view declares its scope."""


def setup_routes(app: web.Application) -> None:
    """Add every route of :data:`ROUTES` to ``app``."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
