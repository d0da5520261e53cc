"""``fleetctl diff -f DIR``, ``fleetctl apply -f DIR`` and ``fleetctl config``: the fleet's
desired state as files under version control, as kubectl and terraform do it.

``diff`` shows what applying the directory would change; ``apply`` makes it the next
revision (who you are and ``--reason`` are recorded). An invalid file is refused by the
manager with the file and the key (``groups.yaml: groups[0].reconcile: ...``) and nothing
changes. ``config revisions``, ``config show [N]``, ``config rollback N`` and
``config drift`` read the revisions and every robot's drift.
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from fleet_cli.args import add_verb, positive
from fleet_cli.client import API, EXIT_OK, UsageError
from fleet_cli.output import Context, clock, fields, footer, natural_key, table

SUFFIXES = ('.yaml', '.yml')


def read_dir(directory: str) -> dict[str, str]:
    """Every ``*.yaml``/``*.yml`` under ``directory`` (hidden directories skipped), by path
    relative to it; UsageError when there is none or one cannot be read."""
    root = pathlib.Path(directory)
    if not root.is_dir():
        raise UsageError(f'-f {directory}: not a directory')
    files = {}
    for path in sorted(root.rglob('*')):
        rel = path.relative_to(root)
        if any(part.startswith('.') for part in rel.parts) or not path.is_file() \
                or path.suffix not in SUFFIXES:
            continue
        try:
            files[rel.as_posix()] = path.read_text(encoding='utf-8')
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f'{path}: cannot read: {exc}') from None
    if not files:
        raise UsageError(f'-f {directory}: no *.yaml files')
    return files


def _print_diff(ctx: Context, diff: dict[str, Any]) -> None:
    lines = diff.get('lines') or []
    for line in lines:
        ctx.out.write(f'  {line}\n')
    if not lines and not diff.get('empty', True):
        files = diff.get('files') or {}
        for change in ('added', 'removed', 'changed'):
            for name in files.get(change) or []:
                ctx.out.write(f'  {change} {name} (comments or layout only)\n')


def cmd_diff(ctx: Context, args: argparse.Namespace) -> int:
    """Print what applying the directory would change."""
    result = ctx.client.post(f'{API}/config/diff', {'files': read_dir(args.file)})
    if ctx.raw:
        ctx.dump(result)
        return EXIT_OK
    diff = result.get('diff') or {}
    if diff.get('empty'):
        ctx.out.write(f'no changes (revision {result.get("revision")} has these files)\n')
        return EXIT_OK
    ctx.out.write(f'changes against revision {result.get("revision")}:\n')
    _print_diff(ctx, diff)
    affected = result.get('robots_affected') or []
    ctx.out.write(f'{len(affected)} robots\' declared parameters would change'
                  + (f': {", ".join(sorted(affected, key=natural_key))}' if affected else '')
                  + '\n')
    return EXIT_OK


def cmd_apply(ctx: Context, args: argparse.Namespace) -> int:
    """Apply the directory as the next revision."""
    result = ctx.client.post(f'{API}/config/apply', {'files': read_dir(args.file),
                                                     'reason': args.reason})
    if ctx.raw:
        ctx.dump(result)
    elif result.get('unchanged'):
        ctx.out.write(f'no changes: revision {result.get("revision")} stays in force\n')
    else:
        affected = result.get('robots_affected') or []
        ctx.out.write(f'revision {result.get("revision")} applied; {len(affected)} robots '
                      'get new parameters\n')
        _print_diff(ctx, result.get('diff') or {})
    return EXIT_OK


def cmd_revisions(ctx: Context, args: argparse.Namespace) -> int:
    """List revisions, newest first."""
    page = ctx.client.get(f'{API}/config/revisions', limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    table([[r.get('number'), clock(r.get('time')), r.get('who'),
            f'from {r["restored_from"]}' if r.get('restored_from') else '',
            len((r.get('diff') or {}).get('lines') or []), r.get('reason') or '']
           for r in page.get('items') or []],
          ('REV', 'TIME', 'WHO', 'RESTORED', 'CHANGES', 'REASON'), ctx.out)
    footer(ctx, page, 'revisions')
    return EXIT_OK


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    """Print a revision (default: the one in force) and what it changed."""
    path = f'{API}/config/revisions/{args.number}' if args.number else f'{API}/config'
    rev = ctx.client.get(path)
    if ctx.raw:
        ctx.dump(rev)
        return EXIT_OK
    fields([('revision', rev.get('number')), ('applied', clock(rev.get('time'))),
            ('by', rev.get('who')), ('reason', rev.get('reason')),
            ('restored from', rev.get('restored_from')), ('digest', rev.get('digest')),
            ('files', ', '.join(sorted(rev.get('files') or [])))], ctx.out)
    ctx.out.write('changes:\n')
    _print_diff(ctx, rev.get('diff') or {})
    return EXIT_OK


def cmd_rollback(ctx: Context, args: argparse.Namespace) -> int:
    """Apply an older revision's files again, as a new revision."""
    result = ctx.client.post(f'{API}/config/revisions/{args.number}/rollback',
                             {'reason': args.reason})
    if ctx.raw:
        ctx.dump(result)
    elif result.get('unchanged'):
        ctx.out.write(f'no changes: revision {args.number} is what is in force\n')
    else:
        ctx.out.write(f'revision {result.get("revision")} applied (the files of revision '
                      f'{args.number})\n')
        _print_diff(ctx, result.get('diff') or {})
    return EXIT_OK


def cmd_drift(ctx: Context, args: argparse.Namespace) -> int:
    """Print every robot's configuration state and what drifted."""
    result = ctx.client.get(f'{API}/config/robots', state=args.state)
    if ctx.raw:
        ctx.dump(result)
        return EXIT_OK
    rows = []
    for r in sorted(result.get('items') or [], key=lambda x: natural_key(x['robot_id'])):
        drifted = [f'{d["node"]}.{d["name"]}={d["actual"]!r} (declared {d["declared"]!r})'
                   for d in r.get('drifted') or []]
        drifted += [f'{n}: not answering' for n in r.get('unreachable') or []]
        rollout = r.get('rollout') or {}
        rows.append([r['robot_id'], r.get('state'), r.get('policy'),
                     ','.join(r.get('groups') or []) or '-', r.get('reported_version') or '-',
                     f'{rollout["id"]}:{rollout["phase"]}' if rollout else '-',
                     '; '.join(drifted)])
    table(rows, ('ROBOT', 'STATE', 'POLICY', 'GROUPS', 'VERSION', 'ROLLOUT', 'DRIFT'), ctx.out)
    ctx.out.write(f'revision {result.get("revision")}\n')
    return EXIT_OK


def register(verbs: Any) -> None:
    """Add ``diff``, ``apply`` and ``config revisions|show|rollback|drift``."""
    diff = add_verb(verbs, 'diff', 'show what applying a desired-state directory would '
                    'change', 'Show what `apply -f DIR` would change (nothing is applied).')
    diff.add_argument('-f', '--file', required=True, metavar='DIR',
                      help='directory of desired-state YAML files')
    diff.set_defaults(func=cmd_diff)
    apply = add_verb(verbs, 'apply', 'apply a desired-state directory as the next revision',
                     'Apply a desired-state directory: groups, releases, parameter sets, '
                     'rollout strategies. Invalid files are refused naming file and key.')
    apply.add_argument('-f', '--file', required=True, metavar='DIR',
                       help='directory of desired-state YAML files')
    apply.add_argument('--reason', default='', help='why (kept in the audit trail)')
    apply.set_defaults(func=cmd_apply)
    config = add_verb(verbs, 'config', 'desired-state revisions, rollback, drift',
                      'Revisions of the desired state, rollback to one, and robots\' drift.')
    sub = config.add_subparsers(dest='action', metavar='ACTION', required=True)
    revisions = add_verb(sub, 'revisions', 'list revisions, newest first')
    revisions.add_argument('--limit', type=positive, default=20,
                           help='at most this many (default: %(default)s)')
    revisions.set_defaults(func=cmd_revisions)
    show = add_verb(sub, 'show', 'show a revision (default: the one in force)')
    show.add_argument('number', nargs='?', type=positive, help='revision number')
    show.set_defaults(func=cmd_show)
    rollback = add_verb(sub, 'rollback', 'apply an older revision again')
    rollback.add_argument('number', type=positive, help='revision number')
    rollback.add_argument('--reason', default='', help='why (kept in the audit trail)')
    rollback.set_defaults(func=cmd_rollback)
    drift = add_verb(sub, 'drift', 'show every robot\'s drift')
    drift.add_argument('--state', choices=('unknown', 'in_sync', 'drifted'),
                       help='only robots in this state')
    drift.set_defaults(func=cmd_drift)
