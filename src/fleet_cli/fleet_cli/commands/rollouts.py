"""``fleetctl rollouts``: start, watch, promote, pause, resume and abort staged rollouts."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from fleet_cli.args import add_verb, positive
from fleet_cli.client import API, EXIT_OK, segment
from fleet_cli.output import Context, ago, clock, fields, footer, table

STATES = ('progressing', 'paused', 'rolling_back', 'completed', 'rolled_back', 'aborted')


def _progress(r: dict[str, Any]) -> str:
    phases = r.get('phases') or {}
    return f'{phases.get("updated", 0)}/{r.get("scope", 0)} updated'


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    """Print rollouts, newest first."""
    page = ctx.client.get(f'{API}/rollouts', state=args.state, limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[r.get('id'), r.get('release'), r.get('state'),
            f'{r.get("step", 0) + 1}/{r.get("steps")} {r.get("step_name", "")}',
            _progress(r), r.get('created_by'), ago(r.get('created_at')),
            r.get('outcome') or r.get('pause_cause') or '']
           for r in page.get('items') or []],
          ('ID', 'RELEASE', 'STATE', 'STEP', 'PROGRESS', 'BY', 'CREATED', 'OUTCOME'),
          ctx.out)
    footer(ctx, page, 'rollouts')
    return EXIT_OK


def _print_gate(gate: dict[str, Any], title: str, out: TextIO) -> None:
    out.write(f'{title}: {gate.get("verdict")} on {gate.get("canary_missions")} missions '
              f'(baseline {gate.get("baseline_missions")}, {gate.get("baseline_scope")})'
              + (f': {gate["detail"]}' if gate.get('detail') else '') + '\n')
    rows = [[c.get('metric'), _num(c.get('canary')), _num(c.get('baseline')), c.get('limit'),
             c.get('verdict'), c.get('detail') or ''] for c in gate.get('checks') or []]
    if rows:
        table(rows, ('METRIC', 'UPDATED', 'BASELINE', 'LIMIT', 'VERDICT', 'DETAIL'), out,
              indent='  ')


def _num(value: Any) -> str:
    return '-' if value is None else f'{float(value):.3g}'


def _print(r: dict[str, Any], out: TextIO) -> None:
    fields([('id', r.get('id')), ('release', f'{r.get("release")} ({r.get("artifact")})'),
            ('state', str(r.get('state', ''))
             + (f' ({r["pause_cause"]})' if r.get('pause_cause') else '')),
            ('step', f'{r.get("step", 0) + 1} of {r.get("steps")}: {r.get("step_name")} '
                     f'({r.get("target")} of {r.get("scope")} robots)'),
            ('progress', _progress(r)), ('created', f'{clock(r.get("created_at"))} by '
                                                    f'{r.get("created_by")}'),
            ('reason', r.get('reason')), ('baking since', clock(r.get('bake_started'))),
            ('outcome', r.get('outcome'))], out)
    robots = r.get('robots') or {}
    order = [x for x in r.get('order') or [] if x in robots]
    if order:
        out.write('robots:\n')
        table([[x, robots[x].get('phase'), robots[x].get('previous_version'),
                robots[x].get('error') or ''] for x in order],
              ('ROBOT', 'PHASE', 'FROM', 'ERROR'), out, indent='  ')
    if r.get('evaluation'):
        _print_gate(r['evaluation'], 'gate now', out)
    for gate in r.get('gates') or []:
        _print_gate(gate, f'gate of step {gate.get("step", 0) + 1}', out)


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    """Print a rollout: robots' phases, gates, the live evaluation."""
    r = ctx.client.get(f'{API}/rollouts/{segment(args.id)}')
    if ctx.raw:
        ctx.dump(r)
    else:
        _print(r, ctx.out)
    return EXIT_OK


def cmd_create(ctx: Context, args: argparse.Namespace) -> int:
    """Start a rollout of a declared release."""
    body: dict[str, Any] = {'release': args.release, 'reason': args.reason}
    if args.strategy:
        body['strategy'] = args.strategy
    if args.group:
        body['groups'] = args.group
    if args.robot:
        body['robots'] = args.robot
    r = ctx.client.post(f'{API}/rollouts', body)
    if ctx.raw:
        ctx.dump(r)
    else:
        ctx.out.write(f'rollout {r.get("id")} of {r.get("release")} started over '
                      f'{r.get("scope")} robots; step 1: {r.get("step_name")}\n')
    return EXIT_OK


def _act(action: str) -> Any:
    def act(ctx: Context, args: argparse.Namespace) -> int:
        body: dict[str, Any] = {'reason': args.reason}
        if action == 'promote':
            body['full'] = args.full
        r = ctx.client.post(f'{API}/rollouts/{segment(args.id)}/{action}', body)
        if ctx.raw:
            ctx.dump(r)
        else:
            ctx.out.write(f'rollout {r.get("id")}: {r.get("state")}, step '
                          f'{r.get("step", 0) + 1} of {r.get("steps")} '
                          f'({r.get("step_name")})\n')
        return EXIT_OK
    return act


def register(verbs: Any) -> None:
    """Add ``rollouts list|show|create|promote|pause|resume|abort``."""
    rollouts = add_verb(verbs, 'rollouts', 'staged rollouts of releases',
                        'Start, watch and steer staged rollouts gated on mission outcomes.')
    sub = rollouts.add_subparsers(dest='action', metavar='ACTION', required=True)
    listing = add_verb(sub, 'list', 'list rollouts, newest first')
    listing.add_argument('--state', choices=STATES, help='only in this state')
    listing.add_argument('--limit', type=positive, default=20,
                         help='at most this many (default: %(default)s)')
    listing.set_defaults(func=cmd_list)
    show = add_verb(sub, 'show', 'show a rollout: robots, gates, the live evaluation')
    show.add_argument('id', help='rollout id, e.g. R-3')
    show.set_defaults(func=cmd_show)
    create = add_verb(sub, 'create', 'start a rollout of a declared release')
    create.add_argument('release', help='a version declared under releases:')
    create.add_argument('--strategy', help='a declared strategy (default: the policy\'s)')
    create.add_argument('--group', action='append', metavar='G',
                        help='only robots of this group (repeatable)')
    create.add_argument('--robot', action='append', metavar='R',
                        help='only this robot (repeatable)')
    create.add_argument('--reason', default='', help='why (kept in the audit trail)')
    create.set_defaults(func=cmd_create)
    for action, text in (('promote', 'go to the next step now, skipping the bake and gate'),
                         ('pause', 'hold the rollout'), ('resume', 'continue a paused rollout'),
                         ('abort', 'stop and take updated robots back to their versions')):
        p = add_verb(sub, action, text)
        p.add_argument('id', help='rollout id')
        p.add_argument('--reason', default='', help='why (kept in the audit trail)')
        if action == 'promote':
            p.add_argument('--full', action='store_true', help='go to the last step (100 %%)')
        p.set_defaults(func=_act(action))
