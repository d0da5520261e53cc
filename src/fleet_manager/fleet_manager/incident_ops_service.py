"""The ``fleet/incident_ops`` service (``fleet_msgs/srv/JsonCall``): silences and postmortems.

Actions (body fields in brackets):

* ``silences`` [state?]: every silence, newest first, with its state now;
* ``silence_create`` [matchers, comment, ends_at | duration, starts_at?, repeat?, until?]:
  create a silence or maintenance window; logged as ``silence.created`` (who, why);
* ``silence_expire`` [id]: end a silence now; logged as ``silence.expired``;
* ``postmortems``: every postmortem (incident id, title, severity, status);
* ``postmortem`` [incident_id]: one postmortem, with its Markdown;
* ``postmortem_update`` [incident_id, fields...]: edit; logged as ``postmortem.updated``;
* ``postmortem_import`` [incident_id, markdown]: replace by edited Markdown; logged too.

Silences and postmortems are saved in the commit's transaction (tables ``silences`` and
``postmortems``), so they survive a restart of the manager.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from fleet_common.events import (
    PostmortemDrafted,
    PostmortemUpdated,
    SilenceCreated,
    SilenceExpired,
)
from fleet_manager.core.errors import Conflict, NotFound, ValidationError
from fleet_manager.core.model import NewEvent
from fleet_manager.core.postmortem import Postmortem, to_markdown
from fleet_manager.core.silences import SilenceState
from fleet_manager.incident_ops import IncidentOps
from fleet_manager.pipeline import Changes
from fleet_msgs.srv import JsonCall

R = JsonCall.Response
Handler = Callable[[dict[str, Any], str, str], 'tuple[dict[str, Any], Changes | None]']


def _event(payload: Any) -> NewEvent:
    return NewEvent(payload.KIND.value, '', payload.to_json())


def save_silences(ops: IncidentOps, ids: set[str]) -> Changes:
    """Return changes that save the named silences."""
    docs = [ops.silences.get(i).to_dict() for i in sorted(ids)]
    return Changes(writes=[lambda tx: tx.save_docs('silences', docs)])


def save_postmortem(pm: Postmortem, drafted: bool = False) -> Changes:
    """Return changes that save a postmortem (and announce a fresh draft)."""
    doc = {**pm.to_dict(), 'id': pm.incident_id}
    out = Changes(writes=[lambda tx: tx.save_docs('postmortems', [doc])])
    if drafted:
        out.events.append(_event(PostmortemDrafted(pm.incident_id, pm.severity, pm.title)))
    return out


def _pm_view(pm: Postmortem) -> dict[str, Any]:
    return {**pm.to_dict(), 'markdown': to_markdown(pm)}


class IncidentOpsService:
    """Serves ``fleet/incident_ops`` for one :class:`IncidentOps`."""

    def __init__(self, ops: IncidentOps, now: Callable[[], float]) -> None:
        self.ops = ops
        self._now = now
        self.actions: dict[str, Handler] = {
            'silences': self._silences, 'silence_create': self._silence_create,
            'silence_expire': self._silence_expire, 'postmortems': self._postmortems,
            'postmortem': self._postmortem, 'postmortem_update': self._postmortem_update,
            'postmortem_import': self._postmortem_import}

    def __call__(self, req: JsonCall.Request, resp: JsonCall.Response) -> tuple[Any, Any]:
        """Handle one call; errors answer INVALID (naming the field), NOT_FOUND or CONFLICT."""
        resp.success, resp.error_code = False, R.INVALID
        action = self.actions.get(req.action)
        try:
            if action is None:
                raise ValidationError('action', f'unknown action {req.action!r} '
                                      f"(one of: {', '.join(self.actions)})")
            try:
                body = json.loads(req.body_json) if req.body_json else {}
            except ValueError as exc:
                raise ValidationError('body', f'not JSON: {exc}') from None
            if not isinstance(body, dict):
                raise ValidationError('body', 'must be a JSON object')
            result, changes = action(body, req.who, req.reason)
        except ValidationError as exc:
            resp.error_msg, resp.error_field = str(exc), exc.field
            return resp, None
        except NotFound as exc:
            resp.error_code, resp.error_msg = R.NOT_FOUND, str(exc.args[0] if exc.args else exc)
            return resp, None
        except Conflict as exc:
            resp.error_code, resp.error_msg = R.CONFLICT, str(exc)
            return resp, None
        resp.success, resp.error_code = True, R.NONE
        resp.result_json = json.dumps(result, default=str)
        return resp, changes

    # -- silences --------------------------------------------------------------------------
    def _silences(self, body: dict[str, Any], who: str, reason: str
                  ) -> tuple[dict[str, Any], None]:
        state = body.get('state')
        try:
            wanted = None if state in (None, '') else SilenceState(state)
        except ValueError:
            raise ValidationError('state', 'one of pending, active, expired') from None
        now = self._now()
        return {'items': [s.to_dict(now) for s in self.ops.silences.list(wanted)]}, None

    def _silence_create(self, body: dict[str, Any], who: str, reason: str
                        ) -> tuple[dict[str, Any], Changes]:
        spec = dict(body)
        spec.setdefault('comment', reason)
        silence = self.ops.silences.create(spec, who)
        out = save_silences(self.ops, {silence.id})
        out.events.append(_event(SilenceCreated(
            silence.id, [m.to_dict() for m in silence.matchers], silence.starts_at,
            silence.ends_at, who, silence.comment, silence.repeat, silence.until)))
        return silence.to_dict(self._now()), out

    def _silence_expire(self, body: dict[str, Any], who: str, reason: str
                        ) -> tuple[dict[str, Any], Changes]:
        silence = self.ops.silences.expire(str(body.get('id', '')), who, reason)
        out = save_silences(self.ops, {silence.id})
        out.events.append(_event(SilenceExpired(silence.id, who, reason)))
        return silence.to_dict(self._now()), out

    # -- postmortems -----------------------------------------------------------------------
    def _postmortems(self, body: dict[str, Any], who: str, reason: str
                     ) -> tuple[dict[str, Any], None]:
        items = sorted(self.ops.postmortems.values(), key=lambda p: p.resolved_at or 0.0,
                       reverse=True)
        return {'items': [{'incident_id': p.incident_id, 'title': p.title,
                           'severity': p.severity, 'status': p.status.value,
                           'resolved_at': p.resolved_at} for p in items]}, None

    def _postmortem(self, body: dict[str, Any], who: str, reason: str
                    ) -> tuple[dict[str, Any], None]:
        return _pm_view(self.ops.postmortem(str(body.get('incident_id', '')))), None

    def _postmortem_update(self, body: dict[str, Any], who: str, reason: str
                           ) -> tuple[dict[str, Any], Changes]:
        edit = {k: v for k, v in body.items() if k != 'incident_id'}
        pm = self.ops.edit_postmortem(str(body.get('incident_id', '')), edit)
        return self._updated(pm, who, reason, sorted(edit))

    def _postmortem_import(self, body: dict[str, Any], who: str, reason: str
                           ) -> tuple[dict[str, Any], Changes]:
        markdown = body.get('markdown')
        if not isinstance(markdown, str):
            raise ValidationError('markdown', 'must be the Markdown text')
        pm = self.ops.import_postmortem(str(body.get('incident_id', '')), markdown)
        return self._updated(pm, who, reason, ['markdown'])

    def _updated(self, pm: Postmortem, who: str, reason: str,
                 fields: list[str]) -> tuple[dict[str, Any], Changes]:
        out = save_postmortem(pm)
        out.events.append(_event(PostmortemUpdated(pm.incident_id, who, reason, fields,
                                                   pm.status.value)))
        return _pm_view(pm), out
