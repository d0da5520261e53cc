"""``fleetctl robots``: list robots, show one, send one a command or a control
(:mod:`fleet_cli.commands.robot_control`)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from fleet_cli.args import add_verb, positive
from fleet_cli.client import API, EXIT_OK, UsageError, segment
from fleet_cli.commands import robot_control
from fleet_cli.output import Context, ago, clock, fields, natural_key, percent, pose_text, table

COMMANDS = ('pause', 'resume', 'return_to_dock', 'cancel_mission')
"""What a robot can be told (the API's ``Command.command``)."""


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    """Print the registry, robot ids in natural order (robot2 before robot10)."""
    page = ctx.client.get(f'{API}/robots', limit=args.limit)
    if ctx.raw:
        ctx.dump(page)
        return EXIT_OK
    items = sorted(page.get('items') or [], key=lambda r: natural_key(str(r.get('id'))))
    table([[r.get('id'), r.get('connectivity'), r.get('mode'), percent(r.get('battery')),
            pose_text(r.get('pose')), r.get('software_version') or '-',
            r.get('current_mission_id') or '-', ago(r.get('last_seen')),
            'yes' if r.get('decommissioned') else '']
           for r in items],
          ('ID', 'CONN', 'MODE', 'BATTERY', 'POSE', 'VERSION', 'MISSION', 'LAST SEEN',
           'DECOMM'), ctx.out)
    online = sum(1 for r in items if r.get('connectivity') == 'online')
    ctx.out.write(f'{page.get("total", len(items))} robots, {online} online\n')
    return EXIT_OK


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    """Print one robot."""
    robot = ctx.client.get(f'{API}/robots/{segment(args.id)}')
    if ctx.raw:
        ctx.dump(robot)
        return EXIT_OK
    pose = robot.get('pose') or {}
    fields([('id', robot.get('id')), ('connectivity', robot.get('connectivity')),
            ('mode', robot.get('mode')), ('battery', percent(robot.get('battery'))),
            ('pose', f'x={pose.get("x")} y={pose.get("y")} theta={pose.get("theta")}'),
            ('last seen', f'{clock(robot.get("last_seen"))} ({ago(robot.get("last_seen"))})'),
            ('software', robot.get('software_version')),
            ('capabilities', ', '.join(robot.get('capabilities') or [])),
            ('mission', robot.get('current_mission_id')),
            ('decommissioned', 'yes' if robot.get('decommissioned') else 'no')], ctx.out)
    return EXIT_OK


def parse_arg(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE``; VALUE is a number when it reads as a finite one, else a string."""
    key, sep, raw = text.partition('=')
    if not sep or not key.strip():
        raise UsageError(f'--arg {text!r}: expected KEY=VALUE')
    value: Any = raw
    for number in (int, float):
        try:
            parsed = number(raw)
        except ValueError:
            continue
        if math.isfinite(parsed):
            value = parsed
        break
    return key.strip(), value


def cmd_command(ctx: Context, args: argparse.Namespace) -> int:
    """Send a robot a command through the manager (after confirmation unless ``--yes``);
    print the command's id."""
    control = next(c for c in robot_control.CONTROLS if c.command == args.command)
    return robot_control.run_control(ctx, args, control)


def register(verbs: Any) -> None:
    """Add ``robots`` (list by default), ``robots show`` and ``robots command``."""
    robots = add_verb(verbs, 'robots', 'the robot registry and robot commands',
                      'List robots, show one, or send one a command.')
    robots.set_defaults(func=cmd_list, limit=1000)
    sub = robots.add_subparsers(dest='action', metavar='ACTION')
    listing = add_verb(sub, 'list', 'list robots (the default)',
                       'List robots: connectivity, mode, battery, pose.')
    listing.add_argument('--limit', type=positive, default=1000, help='at most this many')
    listing.set_defaults(func=cmd_list)
    show = add_verb(sub, 'show', 'show one robot')
    show.add_argument('id', help='robot id')
    show.set_defaults(func=cmd_show)
    command = add_verb(sub, 'command', 'send a robot a command (through the manager)',
                       'Send a robot a command (after confirmation unless --yes); the '
                       'manager logs it (a robot.command event naming --operator, your '
                       'token and --reason) and prints its command id.')
    command.add_argument('id', help='robot id')
    command.add_argument('command', choices=COMMANDS, metavar='COMMAND',
                         help=f'one of: {", ".join(COMMANDS)}')
    robot_control.add_who_and_why(command)
    command.add_argument('--arg', action='append', metavar='KEY=VALUE',
                         help='a command argument, e.g. dock=dock_a for return_to_dock; '
                              'numbers are sent as numbers; repeat for more')
    command.set_defaults(func=cmd_command)
    robot_control.register(sub)
