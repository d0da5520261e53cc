"""Silences, maintenance windows and postmortems (the manager's ``fleet/incident_ops``).

Times in and out are ISO-8601 (epoch seconds are accepted too). Who acts is the per-person
key's person, else the ``who`` the body gives (with the key), else the key's name; every
change is audited in the event log (``silence.*``, ``postmortem.*``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fleet_common.timeconv import epoch_from_iso
from fleet_web import validate
from fleet_web.appkeys import BACKEND, PRINCIPAL
from fleet_web.views.common import API, json_response, page, page_window, scope
from fleet_web.views.desired import iso_times

SILENCE_STATES = ('pending', 'active', 'expired')
SILENCE_FIELDS = ('matchers', 'comment', 'starts_at', 'ends_at', 'duration', 'repeat', 'until',
                  'who')
SILENCE_TIMES = ('starts_at', 'ends_at', 'until', 'created_at', 'expired_at')
POSTMORTEM_FIELDS = ('title', 'status', 'summary', 'impact', 'timeline', 'context',
                     'recurrence', 'contributing_factors', 'action_items', 'who', 'reason')
MAX_TEXT = 20_000  # characters of a comment, reason or Markdown document
MAX_WHO = 100
MAX_QUERY_REASON = 1000  # characters of a reason given in the query string


def _who(request: web.Request, body: dict[str, Any]) -> str:
    return request[PRINCIPAL].who(validate.text(body.get('who') or '', 'who', MAX_WHO))


def _epoch(value: Any, field: str) -> Any:
    """An ISO-8601 time as epoch seconds; anything else is left for the manager to check."""
    if isinstance(value, str):
        try:
            return epoch_from_iso(value)
        except ValueError:
            raise validate.Unprocessable(f'{field} must be an ISO-8601 time or epoch seconds',
                                         field) from None
    return value


async def _call(request: web.Request, action: str, body: dict[str, Any], who: str = '',
                reason: str = '') -> dict[str, Any]:
    return await request.app[BACKEND].json_call('incident_ops', action, body, who, reason)


def silence_json(doc: dict[str, Any]) -> dict[str, Any]:
    """A silence with its times as ISO-8601."""
    return iso_times(doc, *SILENCE_TIMES)


@scope('read')
async def list_silences(request: web.Request) -> web.Response:
    """A page of silences and maintenance windows, newest first, optionally of one state."""
    limit, offset = page_window(request)
    state = validate.query_choice(request, 'state', SILENCE_STATES)
    items = (await _call(request, 'silences', {'state': state} if state else {}))['items']
    return json_response(page([silence_json(s) for s in items[offset:offset + limit]],
                              len(items), limit, offset))


@scope('incidents:write')
async def create_silence(request: web.Request) -> web.Response:
    """Create a silence (or a repeating maintenance window): 201 with it."""
    body = await validate.json_body(request)
    validate.unknown_fields(body, SILENCE_FIELDS)
    comment = validate.text(body.get('comment', ''), 'comment', MAX_TEXT)
    spec: dict[str, Any] = {k: _epoch(body[k], k) for k in ('starts_at', 'ends_at', 'until')
                            if k in body}
    spec.update({k: body[k] for k in ('matchers', 'duration', 'repeat') if k in body})
    spec['comment'] = comment
    doc = await _call(request, 'silence_create', spec, _who(request, body), comment)
    return json_response(silence_json(doc), 201, {'Location': f"{API}/silences/{doc['id']}"})


@scope('incidents:write')
async def expire_silence(request: web.Request) -> web.Response:
    """Expire a silence now (it stays on record): 200 with it; 409 if already expired."""
    body = await validate.json_body(request, required=False)
    validate.unknown_fields(body, ('who', 'reason'))
    reason = validate.text(body.get('reason', ''), 'reason', MAX_TEXT)
    doc = await _call(request, 'silence_expire', {'id': request.match_info['silence_id']},
                      _who(request, body), reason)
    return json_response(silence_json(doc))


@scope('read')
async def list_postmortems(request: web.Request) -> web.Response:
    """A page of postmortems, newest resolution first."""
    limit, offset = page_window(request)
    items = (await _call(request, 'postmortems', {}))['items']
    return json_response(page([iso_times(p, 'resolved_at') for p in
                               items[offset:offset + limit]], len(items), limit, offset))


@scope('read')
async def get_postmortem(request: web.Request) -> web.Response:
    """An incident's postmortem (JSON, with ``markdown``)."""
    return json_response(await _call(request, 'postmortem', {
        'incident_id': request.match_info['incident_id']}))


@scope('read')
async def postmortem_markdown(request: web.Request) -> web.Response:
    """An incident's postmortem as a Markdown document (the export)."""
    doc = await _call(request, 'postmortem', {'incident_id': request.match_info['incident_id']})
    return web.Response(text=doc['markdown'], content_type='text/markdown', headers={
        'Content-Disposition':
            f"attachment; filename=\"postmortem-{doc['incident_id']}.md\""})


@scope('incidents:write')
async def update_postmortem(request: web.Request) -> web.Response:
    """Edit fields of a postmortem: 200 with it."""
    body = await validate.json_body(request)
    validate.unknown_fields(body, POSTMORTEM_FIELDS)
    reason = validate.text(body.get('reason', ''), 'reason', MAX_TEXT)
    edit = {k: v for k, v in body.items() if k not in ('who', 'reason')}
    edit['incident_id'] = request.match_info['incident_id']
    return json_response(await _call(request, 'postmortem_update', edit,
                                     _who(request, body), reason))


@scope('incidents:write')
async def import_postmortem(request: web.Request) -> web.Response:
    """Replace a postmortem by its Markdown (as exported, then edited): 200 with it."""
    try:
        markdown = (await validate.read_body(request)).decode('utf-8')
    except UnicodeDecodeError as exc:
        raise validate.BadRequest(f'the body is not valid UTF-8 (byte {exc.start})') from None
    markdown = validate.text(markdown, 'markdown', MAX_TEXT)
    who = request[PRINCIPAL].who(validate.query_text(request, 'who', MAX_WHO))
    return json_response(await _call(request, 'postmortem_import', {
        'incident_id': request.match_info['incident_id'], 'markdown': markdown}, who,
        validate.query_text(request, 'reason', MAX_QUERY_REASON)))
