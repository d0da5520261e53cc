"""``fleetctl audit``: who changed what, when and why, and what happened next."""

from __future__ import annotations

import argparse
from typing import Any

from fleet_cli.args import add_verb, positive
from fleet_cli.client import API, EXIT_OK, UsageError
from fleet_cli.output import Context, clock, footer, table
from fleet_common.events import PatternError, check_pattern


def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    """Print the audit trail, newest first."""
    if args.kind:
        try:
            for part in args.kind.split(','):
                if part:
                    check_pattern(part)
        except PatternError as exc:
            raise UsageError(f'--kind: {exc}') from None
    page = ctx.client.get(f'{API}/audit', who=args.who, kind=args.kind, robot_id=args.robot,
                          since=args.since, limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[e.get('id'), clock(e.get('time')), e.get('who') or '-', e.get('kind'),
            e.get('target') or '-', e.get('action') or '', e.get('reason') or '']
           for e in page.get('items') or []],
          ('ID', 'TIME', 'WHO', 'KIND', 'TARGET', 'WHAT', 'WHY'), ctx.out)
    footer(ctx, page, 'entries')
    return EXIT_OK


def register(verbs: Any) -> None:
    """Add ``audit``."""
    audit = add_verb(verbs, 'audit', 'the audit trail: who did what, when and why',
                     'Changes of desired state, rollout actions and results, and every '
                     'command and operator action, newest first.')
    audit.add_argument('--who', help='only what this person or system did')
    audit.add_argument('--kind', help='comma-separated kind patterns, e.g. "rollout.*"')
    audit.add_argument('--robot', metavar='R', help='only about this robot')
    audit.add_argument('--since', metavar='TIME', help='ISO-8601, e.g. 2026-01-31T08:00:00Z')
    audit.add_argument('--limit', type=positive, default=50,
                       help='at most this many (default: %(default)s)')
    audit.set_defaults(func=cmd_audit)
