"""Argument parsing shared by the verbs: value types, and the options every verb accepts."""

from __future__ import annotations

import argparse
from typing import Any, Callable


def int_at_least(minimum: int) -> Callable[[str], int]:
    """Return an argparse type: an integer no smaller than ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'not an integer: {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be at least {minimum}, got {value}')
        return value
    return parse


positive = int_at_least(1)
non_negative = int_at_least(0)


def seconds(text: str) -> float:
    """An argparse type: a number of seconds in (0, 3600]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a number: {text!r}') from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError('must be between 0 and 3600 seconds')
    return value


JSON_HELP = 'print the raw JSON answers'


def _anywhere_options() -> argparse.ArgumentParser:
    # SUPPRESS: a verb's parser sets ``json`` only when the flag is given after the verb, so
    # it never overwrites a --json given before it.
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument('--json', action='store_true', default=argparse.SUPPRESS,
                        help=JSON_HELP)
    return parent


ANYWHERE = _anywhere_options()
"""Options accepted after any verb as well as before it (``--json``)."""


def add_verb(subparsers: Any, name: str, help: str, description: str = '',
             ) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` (which accepts the :data:`ANYWHERE` options)."""
    return subparsers.add_parser(name, help=help, description=description or help,
                                 parents=[ANYWHERE])
