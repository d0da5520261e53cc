"""``fleetctl incidents``: list, show, acknowledge and resolve incidents."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from fleet_cli.args import add_verb, positive
from fleet_cli.client import API, EXIT_OK, UsageError, segment
from fleet_cli.output import Context, ago, clock, fields, footer, pose_text, table

STATES = ('triggered', 'acknowledged', 'resolved')


def _recurrence(inc: dict[str, Any]) -> str:
    rec = inc.get('recurrence')
    return str(rec.get('text') or '') if isinstance(rec, dict) else str(rec or '')


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    """Print incidents, newest first."""
    page = ctx.client.get(f'{API}/incidents', state=args.state, robot_id=args.robot,
                          type=args.type, limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[i.get('id'), i.get('severity'), i.get('state'), i.get('type'),
            i.get('robot_id') or '-', i.get('area') or '-', i.get('count'),
            ago(i.get('opened_at')), i.get('title') or '']
           for i in page.get('items') or []],
          ('ID', 'SEV', 'STATE', 'TYPE', 'ROBOT', 'AREA', 'COUNT', 'OPENED', 'TITLE'),
          ctx.out)
    footer(ctx, page, 'incidents')
    return EXIT_OK


def _print_incident(inc: dict[str, Any], out: TextIO) -> None:
    esc = inc.get('escalation') or {}
    context = inc.get('context') or {}
    fields([('id', inc.get('id')), ('title', inc.get('title')),
            ('severity', inc.get('severity')), ('state', inc.get('state')),
            ('type', inc.get('type')), ('robot', inc.get('robot_id')),
            ('mission', inc.get('mission_id')), ('area', inc.get('area')),
            ('pose', pose_text(inc.get('pose')) if inc.get('pose') else None),
            ('opened', f'{clock(inc.get("opened_at"))} ({ago(inc.get("opened_at"))})'),
            ('last seen', clock(inc.get('last_seen'))), ('count', inc.get('count')),
            ('recurrence', _recurrence(inc)),
            ('software', context.get('software_version')),
            ('escalation', f'level {esc.get("level", 0)}, repeat {esc.get("repeat", 0)}'
             if esc else None),
            ('bag', inc.get('bag_path'))], out)
    runbook = inc.get('runbook')
    if isinstance(runbook, dict) and runbook.get('steps'):
        out.write(f'runbook: {runbook.get("title", "")}\n')
        for n, step in enumerate(runbook['steps'], 1):
            out.write(f'  {n}. {step.get("text", "")}\n')
            if step.get('detail'):
                out.write(f'     {step["detail"]}\n')
    timeline = inc.get('timeline') or []
    if timeline:
        out.write('timeline:\n')
        table([[clock(e.get('time')), e.get('kind'), e.get('who') or '-', e.get('note') or '']
               for e in timeline], ('TIME', 'KIND', 'WHO', 'NOTE'), out, indent='  ')


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    """Print an incident: context, runbook, timeline."""
    inc = ctx.client.get(f'{API}/incidents/{segment(args.id)}')
    if ctx.raw:
        ctx.dump(inc)
    else:
        _print_incident(inc, ctx.out)
    return EXIT_OK


def _action(ctx: Context, incident_id: str, action: str, note: str) -> int:
    inc = ctx.client.post(f'{API}/incidents/{segment(incident_id)}/{action}', {'note': note})
    if ctx.raw:
        ctx.dump(inc)
    else:
        ctx.out.write(f'incident {inc.get("id", incident_id)}: {inc.get("state")}\n')
    return EXIT_OK


def cmd_ack(ctx: Context, args: argparse.Namespace) -> int:
    """Acknowledge an incident."""
    return _action(ctx, args.id, 'ack', args.note or '')


def cmd_resolve(ctx: Context, args: argparse.Namespace) -> int:
    """Resolve an incident; the note saying what was done must not be blank."""
    if not args.note.strip():
        raise UsageError('--note must not be empty: say what was done')
    return _action(ctx, args.id, 'resolve', args.note)


def register(verbs: Any) -> None:
    """Add ``incidents list|show|ack|resolve``."""
    incidents = add_verb(verbs, 'incidents', 'list, show, acknowledge, resolve incidents',
                         'List, show, acknowledge and resolve incidents.')
    sub = incidents.add_subparsers(dest='action', metavar='ACTION', required=True)
    listing = add_verb(sub, 'list', 'list incidents, newest first')
    listing.add_argument('--state', choices=STATES, help='only in this state')
    listing.add_argument('--robot', metavar='R', help='only of this robot')
    listing.add_argument('--type', metavar='T', help='only of this type, e.g. robot_stuck')
    listing.add_argument('--limit', type=positive, default=50,
                         help='at most this many (default: %(default)s)')
    listing.set_defaults(func=cmd_list)
    show = add_verb(sub, 'show', 'show an incident: context, runbook, timeline')
    show.add_argument('id', help='incident id')
    show.set_defaults(func=cmd_show)
    ack = add_verb(sub, 'ack', 'acknowledge an incident (stops escalation)',
                   'Acknowledge an incident: you are on it.')
    ack.add_argument('id', help='incident id')
    ack.add_argument('--note', metavar='N', default='', help='a note for the timeline')
    ack.set_defaults(func=cmd_ack)
    resolve = add_verb(sub, 'resolve', 'resolve an incident',
                       'Resolve an incident, saying what was done.')
    resolve.add_argument('id', help='incident id')
    resolve.add_argument('--note', metavar='N', required=True, help='what was done (required)')
    resolve.set_defaults(func=cmd_resolve)
