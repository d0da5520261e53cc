"""``fleetctl [--url URL] [--token TOKEN] [--json] [--timeout S] VERB ...``

    fleetctl robots                       # list (also: robots list, robots show ID)
    fleetctl robots command robot3 pause --reason 'blocked aisle'
    fleetctl missions submit --waypoint 3,4 --waypoint 10,2,1.57,5 --priority 2
    fleetctl missions list --state active --json
    fleetctl incidents ack INC-7 --note 'on my way'
    fleetctl events tail --kind 'incident.*' --follow

``--json`` may come before or after the verb. Exit codes: 0 success, 1 the API refused (its
message is printed as ``fleetctl: <message> (field: <field>)``), 2 usage error, 3 the API
could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence, TextIO

from fleet_cli import args as cli_args
from fleet_cli.client import DEFAULT_URL, EXIT_OK, PROG, Client, CliError
from fleet_cli.commands import RESOURCES
from fleet_cli.output import Context


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of fleetctl (verbs as nested sub-commands)."""
    p = argparse.ArgumentParser(
        prog=PROG, description='Command line client of the fleet operations HTTP API.',
        epilog='Exit codes: 0 ok, 1 the API refused, 2 usage error, 3 API unreachable.')
    p.add_argument('--url', default=os.environ.get('FLEET_URL') or DEFAULT_URL,
                   help='base URL of the fleet API (default: $FLEET_URL or %(default)s)')
    p.add_argument('--token', default=os.environ.get('FLEET_TOKEN') or None,
                   help='API bearer token (default: $FLEET_TOKEN)')
    p.add_argument('--json', action='store_true',
                   help=f'{cli_args.JSON_HELP} (also accepted after the verb)')
    p.add_argument('--timeout', type=cli_args.seconds, default=10.0,
                   help='seconds to wait for each answer (default: %(default)s)')
    verbs = p.add_subparsers(dest='verb', metavar='VERB', required=True)
    for resource in RESOURCES:
        resource.register(verbs)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run fleetctl with ``argv`` (default: sys.argv[1:]); return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    ctx = Context(Client(args.url, args.token, args.timeout), args.json, out)
    try:
        return int(args.func(ctx, args))
    except CliError as exc:
        err.write(f'{PROG}: {exc}\n')
        return exc.exit_code
    except KeyboardInterrupt:
        err.write(f'{PROG}: interrupted\n')
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `fleetctl events tail | head`): quietly stop.
        try:
            sys.stdout = open(os.devnull, 'w')
        except OSError:
            pass
        return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
