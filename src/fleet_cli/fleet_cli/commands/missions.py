"""``fleetctl missions``: submit, list, show and cancel missions."""

from __future__ import annotations

import argparse
import math
from typing import Any, TextIO

from fleet_cli.args import add_verb, positive
from fleet_cli.client import API, EXIT_OK, UsageError, segment
from fleet_cli.output import EVENT_HEADERS, Context, ago, clock, event_row, fields, footer, table

STATES = ('queued', 'assigned', 'active', 'succeeded', 'failed', 'canceled')


def parse_waypoint(text: str) -> dict[str, float]:
    """Parse ``X,Y[,THETA[,DWELL]]`` into a waypoint; UsageError when malformed."""
    parts = [p.strip() for p in text.split(',')]
    if not 2 <= len(parts) <= 4:
        raise UsageError(f'--waypoint {text!r}: expected X,Y[,THETA[,DWELL]]')
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f'--waypoint {text!r}: every part must be a number') from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f'--waypoint {text!r}: numbers must be finite')
    if len(values) == 4 and values[3] < 0:
        raise UsageError(f'--waypoint {text!r}: DWELL must not be negative')
    return dict(zip(('x', 'y', 'theta', 'dwell'), values))


def _mission_fields(m: dict[str, Any], out: TextIO) -> None:
    fields([('id', m.get('id')), ('state', m.get('state')), ('robot', m.get('robot_id')),
            ('priority', m.get('priority')), ('attempts', m.get('attempts')),
            ('pinned robot', m.get('pinned_robot')),
            ('capabilities', ', '.join(m.get('capabilities') or [])),
            ('client ref', m.get('client_ref')), ('created', clock(m.get('created_at'))),
            ('updated', clock(m.get('updated_at'))), ('deadline', clock(m.get('deadline'))
                                                      if m.get('deadline') else None),
            ('failure', m.get('failure_reason'))], out)
    waypoints = m.get('waypoints') or []
    if waypoints:
        out.write('waypoints:\n')
        table([[i, w.get('x'), w.get('y'), w.get('theta', 0), w.get('dwell', 0)]
               for i, w in enumerate(waypoints, 1)], ('#', 'X', 'Y', 'THETA', 'DWELL'), out,
              indent='  ')


def cmd_submit(ctx: Context, args: argparse.Namespace) -> int:
    """Submit a mission; print its id and state."""
    body: dict[str, Any] = {'waypoints': [parse_waypoint(w) for w in args.waypoint]}
    if args.priority is not None:
        body['priority'] = args.priority
    if args.capability:
        body['capabilities'] = args.capability
    if args.pin:
        body['pinned_robot'] = args.pin
    if args.client_ref:
        body['client_ref'] = args.client_ref
    headers = {'Idempotency-Key': args.idempotency_key} if args.idempotency_key else None
    status, mission = ctx.client.request('POST', f'{API}/missions', body=body, headers=headers)
    if ctx.raw:
        ctx.dump(mission)
        return EXIT_OK
    verb = 'already submitted (same Idempotency-Key)' if status == 200 else 'submitted'
    ctx.out.write(f'mission {mission.get("id")} {verb}: {mission.get("state")}\n')
    return EXIT_OK


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    """Print missions, newest first."""
    page = ctx.client.get(f'{API}/missions', state=args.state, robot_id=args.robot,
                          limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[m.get('id'), m.get('state'), m.get('robot_id') or '-', m.get('priority'),
            len(m.get('waypoints') or []), m.get('attempts'), ago(m.get('created_at')),
            m.get('client_ref') or '-', m.get('failure_reason') or '']
           for m in page.get('items') or []],
          ('ID', 'STATE', 'ROBOT', 'PRIO', 'WPTS', 'TRIES', 'CREATED', 'REF', 'FAILURE'),
          ctx.out)
    footer(ctx, page, 'missions')
    return EXIT_OK


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    """Print a mission and its timeline."""
    mission = ctx.client.get(f'{API}/missions/{segment(args.id)}')
    if ctx.raw:
        ctx.dump(mission)
        return EXIT_OK
    _mission_fields(mission, ctx.out)
    events = ctx.client.get(f'{API}/missions/{segment(args.id)}/events').get('items') or []
    if events:
        ctx.out.write('timeline:\n')
        table([event_row(e) for e in events], EVENT_HEADERS, ctx.out, indent='  ')
    return EXIT_OK


def cmd_cancel(ctx: Context, args: argparse.Namespace) -> int:
    """Cancel a mission; print its new state."""
    body = {'reason': args.reason} if args.reason else None
    mission = ctx.client.post(f'{API}/missions/{segment(args.id)}/cancel', body)
    if ctx.raw:
        ctx.dump(mission)
    else:
        ctx.out.write(f'mission {mission.get("id")}: {mission.get("state")}\n')
    return EXIT_OK


def register(verbs: Any) -> None:
    """Add ``missions submit|list|show|cancel``."""
    missions = add_verb(verbs, 'missions', 'submit, list, show, cancel missions',
                        'Submit, list, show and cancel missions.')
    sub = missions.add_subparsers(dest='action', metavar='ACTION', required=True)
    submit = add_verb(sub, 'submit', 'submit a mission', 'Submit a mission; prints its id.')
    submit.add_argument('--waypoint', action='append', required=True,
                        metavar='X,Y[,THETA[,DWELL]]',
                        help='a waypoint in metres (theta in rad, dwell in s); repeat '
                             'for more, in order')
    submit.add_argument('--priority', type=int, help='higher runs first (default 0)')
    submit.add_argument('--capability', action='append', metavar='C',
                        help='a capability the robot needs; repeat for more')
    submit.add_argument('--pin', metavar='ROBOT', help='run it on this robot only')
    submit.add_argument('--client-ref', metavar='REF', help='your reference for it')
    submit.add_argument('--idempotency-key', metavar='K',
                        help='resubmitting with the same key returns the same mission')
    submit.set_defaults(func=cmd_submit)
    listing = add_verb(sub, 'list', 'list missions, newest first')
    listing.add_argument('--state', choices=STATES, help='only in this state')
    listing.add_argument('--robot', metavar='R', help='only of this robot')
    listing.add_argument('--limit', type=positive, default=50,
                         help='at most this many (default: %(default)s)')
    listing.set_defaults(func=cmd_list)
    show = add_verb(sub, 'show', 'show a mission and its timeline')
    show.add_argument('id', help='mission id')
    show.set_defaults(func=cmd_show)
    cancel = add_verb(sub, 'cancel', 'cancel a mission')
    cancel.add_argument('id', help='mission id')
    cancel.add_argument('--reason', metavar='R', help='why (kept in its timeline)')
    cancel.set_defaults(func=cmd_cancel)
