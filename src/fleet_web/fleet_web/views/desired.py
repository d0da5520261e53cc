"""Desired state (configuration as code): diff, apply, revisions, rollback, drift per robot.

The files travel as ``{"files": {"<relative path>.yaml": "<text>"}}`` (``fleetctl diff -f DIR``
and ``fleetctl apply -f DIR`` read a directory into that shape); the manager checks them,
and an invalid one is a 422 whose ``field`` is ``<file>: <key>``. Writes need ``admin``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fleet_web import validate
from fleet_web.api_errors import BadRequest
from fleet_web.appkeys import BACKEND, PRINCIPAL
from fleet_web.convert import iso_from_epoch
from fleet_web.openapi_rollouts import DRIFT_STATES, MAX_REVISION
from fleet_web.views.common import API, json_response, page, page_window, scope

MAX_REASON = 1000  # characters
MAX_FILES = 500


def iso_times(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    """Return ``doc`` with the epoch-second fields ``names`` as ISO-8601 times."""
    out = dict(doc)
    for name in names:
        if isinstance(out.get(name), (int, float)) and not isinstance(out.get(name), bool):
            out[name] = iso_from_epoch(float(out[name]))
    return out


def reason_of(body: dict[str, Any]) -> str:
    """The body's ``reason`` (a string of at most 1000 characters); 422 otherwise."""
    reason = body.get('reason', '')
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise validate.Unprocessable(f'reason must be a string of at most {MAX_REASON} '
                                     'characters', 'reason')
    return reason


def _files(body: dict[str, Any]) -> dict[str, str]:
    files = body.get('files')
    if not isinstance(files, dict) or not files:
        raise validate.Unprocessable('files must be an object of file name -> YAML text',
                                     'files')
    if len(files) > MAX_FILES:
        raise validate.Unprocessable(f'at most {MAX_FILES} files', 'files')
    for name, text in files.items():
        if not isinstance(text, str):
            raise validate.Unprocessable(f'files.{name} must be the file\'s text', 'files')
    return files


def _number(request: web.Request) -> int:
    raw = request.match_info['number']
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_REVISION:
        raise BadRequest(f'a revision number is an integer from 1 to {MAX_REVISION}', 'number')
    return int(raw)


def _revision(doc: dict[str, Any]) -> dict[str, Any]:
    return iso_times(doc, 'time')


@scope('read')
async def diff(request: web.Request) -> web.Response:
    """What applying ``files`` would change (nothing is applied)."""
    body = await validate.json_body(request)
    result = await request.app[BACKEND].json_call('desired_state', 'diff',
                                                  {'files': _files(body)})
    return json_response(result)


@scope('admin')
async def apply(request: web.Request) -> web.Response:
    """Apply ``files``: 201 with the new revision, 200 when nothing changed."""
    body = await validate.json_body(request)
    result = await request.app[BACKEND].json_call(
        'desired_state', 'apply', {'files': _files(body)}, request[PRINCIPAL].name,
        reason_of(body))
    status = 200 if result.get('unchanged') else 201
    return json_response(result, status,
                         {'Location': f'{API}/config/revisions/{result.get("revision")}'})


@scope('read')
async def current(request: web.Request) -> web.Response:
    """The revision in force, with its files."""
    return json_response(_revision(await request.app[BACKEND].json_call('desired_state',
                                                                        'current', {})))


@scope('read')
async def list_revisions(request: web.Request) -> web.Response:
    """A page of revisions, newest first (who, when, why, the diff; file names only)."""
    limit, offset = page_window(request)
    result = await request.app[BACKEND].json_call('desired_state', 'revisions',
                                                  {'offset': offset, 'limit': limit})
    return json_response(page([_revision(r) for r in result['items']], result['total'],
                              limit, offset))


@scope('read')
async def get_revision(request: web.Request) -> web.Response:
    """One revision with its files; 404 when unknown."""
    return json_response(_revision(await request.app[BACKEND].json_call(
        'desired_state', 'revision', {'number': _number(request)})))


@scope('admin')
async def rollback(request: web.Request) -> web.Response:
    """Apply an older revision's files again (as a new revision); 404 when unknown."""
    body = await validate.json_body(request, required=False)
    result = await request.app[BACKEND].json_call(
        'desired_state', 'rollback', {'number': _number(request)}, request[PRINCIPAL].name,
        reason_of(body))
    return json_response(result, 200 if result.get('unchanged') else 201)


@scope('read')
async def robots(request: web.Request) -> web.Response:
    """Every robot's configuration: drift state, drifted parameters, versions, rollout."""
    result = await request.app[BACKEND].json_call('desired_state', 'robots', {})
    items = [iso_times(r, 'reported_at', 'sent_at', 'reconcile_at') for r in result['items']]
    state = validate.query_choice(request, 'state', DRIFT_STATES)
    if state:
        items = [r for r in items if r.get('state') == state]
    return json_response({'items': items, 'revision': result.get('revision', 0)})
