"""``fleetctl robots pause|resume|return-to-dock|cancel-mission|decommission|recommission``.

Each control goes through the manager (the API's robot command and service routes), names
who asks (``--operator``, default ``$FLEET_OPERATOR``, logged with the token's name) and why
(``--reason``), and asks for confirmation on the terminal unless ``--yes`` is given.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import os
import sys
from typing import Any, Callable, TextIO

from fleet_cli.args import add_verb
from fleet_cli.client import API, EXIT_OK, UsageError, segment
from fleet_cli.output import Context

MAX_REASON = 1000  # characters, as the API allows
MAX_OPERATOR = 100


@dataclass(frozen=True)
class Control:
    """One robot control: its verb, what the API calls it, and how it is asked."""

    verb: str
    command: str
    """The API's command, or ``decommission``/``recommission`` (the service routes)."""
    question: str
    """The confirmation question; ``{id}`` is the robot."""
    help: str


CONTROLS = (
    Control('pause', 'pause', 'Pause {id}? It stops where it is (its Nav2 goal is canceled) '
            'until resumed.', 'hold a robot where it is (its mission waits)'),
    Control('resume', 'resume', 'Resume {id}? It continues its mission.',
            'continue a paused robot\'s mission'),
    Control('return-to-dock', 'return_to_dock', 'Send {id} to its dock?',
            'send an idle robot to its dock (--arg dock=NAME for another)'),
    Control('cancel-mission', 'cancel_mission', 'Cancel the mission {id} is executing?',
            'cancel the mission the robot executes'),
    Control('decommission', 'decommission', 'Decommission {id}? It takes no new missions '
            'until recommissioned.', 'take a robot out of service (admin)'),
    Control('recommission', 'recommission', 'Put {id} back in service?',
            'put a decommissioned robot back in service (admin)'),
)


def confirm(question: str, answer_in: TextIO, out: TextIO) -> bool:
    """Ask ``question`` on ``out``; True only for an answer of y or yes (EOF is no)."""
    out.write(f'{question} [y/N] ')
    out.flush()
    try:
        line = answer_in.readline()
    except OSError:  # no readable input (a closed or captured stdin): not confirmed
        line = ''
    if not line.endswith('\n'):
        out.write('\n')
    return line.strip().lower() in ('y', 'yes')


def _body(args: argparse.Namespace) -> dict[str, Any]:
    if len(args.reason) > MAX_REASON:
        raise UsageError(f'--reason must be at most {MAX_REASON} characters')
    operator = (args.operator or '').strip()
    if len(operator) > MAX_OPERATOR:
        raise UsageError(f'--operator must be at most {MAX_OPERATOR} characters')
    body: dict[str, Any] = {}
    if args.reason:
        body['reason'] = args.reason
    if operator:
        body['operator'] = operator
    return body


def run_control(ctx: Context, args: argparse.Namespace, control: Control,
                answer_in: TextIO | None = None) -> int:
    """Confirm (unless ``--yes``), send the control through the API and print the outcome."""
    from fleet_cli.commands.robots import parse_arg  # the one KEY=VALUE parser
    body = _body(args)
    service = control.command in ('decommission', 'recommission')
    if service and getattr(args, 'reassign', False):
        body['reassign_active'] = True
    if not service:
        body.update(command=control.command,
                    args=dict(parse_arg(a) for a in getattr(args, 'arg', None) or []))
    if not args.yes and not confirm(control.question.format(id=args.id),
                                    answer_in or sys.stdin, ctx.out):
        raise UsageError('not confirmed: nothing was sent (answer y, or pass --yes)')
    robot = segment(args.id)
    if service:
        answer = ctx.client.post(f'{API}/robots/{robot}/{control.command}', body)
        text = f'{args.id}: {control.command}ed'
    else:
        answer = ctx.client.post(f'{API}/robots/{robot}/commands', body)
        text = f'{args.id}: {control.command} sent (command {answer.get("command_id")})'
    if ctx.raw:
        ctx.dump(answer)
    else:
        ctx.out.write(text + '\n')
    return EXIT_OK


def _runner(control: Control) -> Callable[[Context, argparse.Namespace], int]:
    return lambda ctx, args: run_control(ctx, args, control)


def add_who_and_why(parser: argparse.ArgumentParser) -> None:
    """Add ``--reason``, ``--operator`` and ``--yes``."""
    parser.add_argument('--reason', metavar='R', default='',
                        help=f'why (logged with it; at most {MAX_REASON} characters)')
    parser.add_argument('--operator', metavar='NAME',
                        default=os.environ.get('FLEET_OPERATOR') or None,
                        help='who asks (logged with the token\'s name; default: '
                             '$FLEET_OPERATOR)')
    parser.add_argument('--yes', '-y', action='store_true',
                        help='do not ask for confirmation')


def register(sub: Any) -> None:
    """Add one sub-command per robot control to ``fleetctl robots``."""
    for control in CONTROLS:
        parser = add_verb(sub, control.verb, control.help,
                          f'{control.help[0].upper()}{control.help[1:]}. Goes through the '
                          'manager, is logged with who (--operator and the token) and why '
                          '(--reason) in the audit trail, and asks for confirmation unless '
                          '--yes.')
        parser.add_argument('id', help='robot id')
        add_who_and_why(parser)
        if control.command == 'return_to_dock':
            parser.add_argument('--arg', action='append', metavar='KEY=VALUE',
                                help='dock=NAME for another dock than the robot\'s own')
        if control.command == 'decommission':
            parser.add_argument('--reassign', action='store_true',
                                help='requeue its active mission (default: let it finish)')
        parser.set_defaults(func=_runner(control))
