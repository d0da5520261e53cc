"""``fleetctl silences`` and ``fleetctl postmortems``: mute notifications by matcher, and
review resolved incidents.

Silences and maintenance windows mute notifications (pages, webhooks) of matching incidents;
the incidents are still recorded and show the silence. Every change names who asks
(``--operator``, default ``$FLEET_OPERATOR``; a per-person key names its person) and why.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
from typing import Any

from fleet_cli.args import add_verb, positive
from fleet_cli.client import API, EXIT_OK, UsageError, segment
from fleet_cli.output import Context, clock, fields, footer, table

_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400}


def duration(text: str) -> float:
    """Parse ``90``, ``90s``, ``30m``, ``2h`` or ``1d`` as seconds (argparse type)."""
    found = re.fullmatch(r'\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*', text)
    if found is None or float(found.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f'not a duration: {text!r} (e.g. 90s, 30m, 2h, 1d)')
    return float(found.group(1)) * _UNITS[found.group(2) or 's']


def _who(args: argparse.Namespace) -> dict[str, str]:
    operator = (args.operator or '').strip()
    return {'who': operator} if operator else {}


def _matchers(silence: dict[str, Any]) -> str:
    return ', '.join(f"{m['label']}{m['op']}{m['value']}" for m in silence.get('matchers') or [])


def cmd_silences(ctx: Context, args: argparse.Namespace) -> int:
    """Print silences, newest first."""
    page = ctx.client.get(f'{API}/silences', state=args.state, limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[s.get('id'), s.get('state'), _matchers(s), clock(s.get('starts_at')),
            clock(s.get('ends_at')) + (f" ({s['repeat']})" if s.get('repeat') else ''),
            s.get('created_by'), s.get('muted'), s.get('comment')]
           for s in page.get('items') or []],
          ('ID', 'STATE', 'MATCHERS', 'STARTS', 'ENDS', 'BY', 'MUTED', 'WHY'), ctx.out)
    footer(ctx, page, 'silences')
    return EXIT_OK


def cmd_silence_create(ctx: Context, args: argparse.Namespace) -> int:
    """Create a silence or maintenance window and print it."""
    if (args.duration is None) == (args.ends is None):
        raise UsageError('give exactly one of --duration and --ends')
    body: dict[str, Any] = {'matchers': list(args.match), 'comment': args.comment,
                            **_who(args)}
    for key, value in (('starts_at', args.starts), ('ends_at', args.ends),
                       ('duration', args.duration), ('repeat', args.repeat),
                       ('until', args.until)):
        if value is not None:
            body[key] = value
    silence = ctx.client.post(f'{API}/silences', body)
    if ctx.raw:
        ctx.dump(silence)
    else:
        ctx.out.write(f"{silence['id']}: {silence['state']} until {clock(silence['ends_at'])}"
                      f" ({_matchers(silence)})\n")
    return EXIT_OK


def cmd_silence_expire(ctx: Context, args: argparse.Namespace) -> int:
    """Expire a silence now."""
    silence = ctx.client.request('DELETE', f'{API}/silences/{segment(args.id)}',
                                 body={'reason': args.reason, **_who(args)})[1]
    if ctx.raw:
        ctx.dump(silence)
    else:
        ctx.out.write(f"{silence['id']}: expired by {silence['expired_by']}\n")
    return EXIT_OK


def cmd_postmortems(ctx: Context, args: argparse.Namespace) -> int:
    """Print postmortems, newest first."""
    page = ctx.client.get(f'{API}/postmortems', limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[p.get('incident_id'), p.get('severity'), p.get('status'),
            clock(p.get('resolved_at')), p.get('title')] for p in page.get('items') or []],
          ('INCIDENT', 'SEV', 'STATUS', 'RESOLVED', 'TITLE'), ctx.out)
    footer(ctx, page, 'postmortems')
    return EXIT_OK


def cmd_postmortem_show(ctx: Context, args: argparse.Namespace) -> int:
    """Print one postmortem (its Markdown, or its JSON with --json)."""
    pm = ctx.client.get(f'{API}/incidents/{segment(args.id)}/postmortem')
    if ctx.raw:
        ctx.dump(pm)
    elif args.output:
        pathlib.Path(args.output).write_text(pm['markdown'], encoding='utf-8')
        fields([('incident', pm['incident_id']), ('written to', args.output)], ctx.out)
    else:
        ctx.out.write(pm['markdown'])
    return EXIT_OK


def cmd_postmortem_import(ctx: Context, args: argparse.Namespace) -> int:
    """Replace a postmortem by an edited Markdown export."""
    try:
        text = pathlib.Path(args.file).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f'cannot read {args.file}: {exc}') from None
    query = {'reason': args.reason, **_who(args)}
    pm = ctx.client.request('PUT', f'{API}/incidents/{segment(args.id)}/postmortem.md', query,
                            text.encode('utf-8'), {'Content-Type': 'text/markdown'})[1]
    if ctx.raw:
        ctx.dump(pm)
    else:
        ctx.out.write(f"{pm['incident_id']}: postmortem updated ({pm['status']})\n")
    return EXIT_OK


def _who_and_why(parser: argparse.ArgumentParser, reason: bool = True) -> None:
    parser.add_argument('--operator', metavar='NAME',
                        default=os.environ.get('FLEET_OPERATOR') or None,
                        help='who asks, when the token is shared (default: $FLEET_OPERATOR)')
    if reason:
        parser.add_argument('--reason', default='', help='why (audited)')


def register(verbs: Any) -> None:
    """Add ``silences`` and ``postmortems``."""
    silences = add_verb(verbs, 'silences', 'silences and maintenance windows',
                        'Mute notifications of matching incidents for a while; the '
                        'incidents are still recorded and show the silence.')
    sub = silences.add_subparsers(dest='verb', required=True, metavar='VERB')
    ls = add_verb(sub, 'list', 'list silences, newest first')
    ls.add_argument('--state', choices=('pending', 'active', 'expired'))
    ls.add_argument('--limit', type=positive, default=50)
    ls.set_defaults(func=cmd_silences)
    create = add_verb(sub, 'create', 'create a silence or maintenance window',
                      'Labels: rule, type, robot, area, site, severity, robot_type. Example: '
                      'fleetctl silences create --match area=aisle_b --match '
                      "'type=~robot_stuck|robot_offline' --duration 2h --comment 'floor works'")
    create.add_argument('--match', action='append', required=True, metavar='MATCHER',
                        help='label=value, label!=value, label=~regex or label!~regex '
                             '(repeat: all must match)')
    create.add_argument('--comment', required=True, help='why (audited)')
    create.add_argument('--duration', type=duration, help='how long: 90s, 30m, 2h, 1d')
    create.add_argument('--ends', metavar='TIME', help='when it ends (ISO-8601)')
    create.add_argument('--starts', metavar='TIME', help='when it starts (default: now)')
    create.add_argument('--repeat', choices=('daily', 'weekly'),
                        help='a maintenance window: again every day or week')
    create.add_argument('--until', metavar='TIME', help='last repetition before (ISO-8601)')
    _who_and_why(create, reason=False)
    create.set_defaults(func=cmd_silence_create)
    expire = add_verb(sub, 'expire', 'end a silence now (it stays on record)')
    expire.add_argument('id', help='silence id, e.g. SIL-3')
    _who_and_why(expire)
    expire.set_defaults(func=cmd_silence_expire)

    postmortems = add_verb(verbs, 'postmortems', 'postmortems of resolved incidents',
                           'Drafted when a SEV0/SEV1 incident is resolved; export as '
                           'Markdown, edit, import back.')
    sub = postmortems.add_subparsers(dest='verb', required=True, metavar='VERB')
    ls = add_verb(sub, 'list', 'list postmortems, newest first')
    ls.add_argument('--limit', type=positive, default=50)
    ls.set_defaults(func=cmd_postmortems)
    show = add_verb(sub, 'show', "print an incident's postmortem as Markdown")
    show.add_argument('id', help='incident id')
    show.add_argument('-o', '--output', metavar='FILE', help='write the Markdown to FILE')
    show.set_defaults(func=cmd_postmortem_show)
    imp = add_verb(sub, 'import', 'replace a postmortem by an edited Markdown export')
    imp.add_argument('id', help='incident id')
    imp.add_argument('file', help='the Markdown file')
    _who_and_why(imp)
    imp.set_defaults(func=cmd_postmortem_import)
