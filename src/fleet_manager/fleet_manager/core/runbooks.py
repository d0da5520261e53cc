"""Runbooks: what an operator should do for each incident type (``config/runbooks/*.yaml``).

One file per incident type. The type is the file's stem unless the file says ``type:``, in
which case the two must agree, so a renamed file cannot silently attach to the wrong type::

    title: Robot stuck (repeated Nav2 recoveries)
    summary: optional one paragraph
    steps:
      - Look at the robot's camera and costmap in the dashboard.
      - text: Clear the obstacle or drive the robot out manually.
        detail: optional longer explanation
"""

from __future__ import annotations

from dataclasses import dataclass
import pathlib
import re
from typing import Any

from fleet_common.config import ConfigError, ConfigReader, read_yaml

RUNBOOK_SUFFIXES = ('.yaml', '.yml')
_TYPE = re.compile(r'^[a-z][a-z0-9_]*$')


@dataclass(frozen=True)
class RunbookStep:
    """One ordered step: a short imperative ``text`` and an optional longer ``detail``."""

    text: str
    detail: str = ''


@dataclass(frozen=True)
class Runbook:
    """The operator guide attached to every incident of ``type``."""

    type: str
    title: str
    steps: tuple[RunbookStep, ...]
    summary: str = ''
    source: str = ''

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape stored on an incident (``Incident.runbook``)."""
        return {'type': self.type, 'title': self.title, 'summary': self.summary,
                'steps': [{'text': s.text, 'detail': s.detail} for s in self.steps],
                'source': self.source}


def load_runbook(path: str | pathlib.Path) -> Runbook:
    """Load one runbook file; raise ConfigError naming the file and key on any problem."""
    file = str(path)
    r = ConfigReader(file)
    root = r.root(read_yaml(path))
    r.unknown_keys(root, {'type', 'title', 'summary', 'steps'}, '')
    stem = pathlib.Path(path).stem
    rb_type = r.string(root.get('type'), 'type') or stem
    if not _TYPE.match(rb_type):
        raise r.fail('type', f'{rb_type!r} is not an incident type (lower_snake_case)')
    if rb_type != stem:
        raise r.fail('type', f'{rb_type!r} does not match the file name {stem!r}; '
                     'name the file after the incident type')
    title = r.string(root.get('title'), 'title', required=True)
    summary = r.string(root.get('summary'), 'summary')
    raw_steps = r.seq(root.get('steps'), 'steps', required=True)
    if not raw_steps:
        raise r.fail('steps', 'must list at least one step')
    steps = []
    for i, raw in enumerate(raw_steps):
        key = f'steps[{i}]'
        if isinstance(raw, str):
            steps.append(RunbookStep(r.string(raw, key, required=True)))
            continue
        raw = r.mapping(raw, key, required=True)
        r.unknown_keys(raw, {'text', 'detail'}, key)
        steps.append(RunbookStep(r.string(raw.get('text'), f'{key}.text', required=True),
                                 r.string(raw.get('detail'), f'{key}.detail')))
    return Runbook(rb_type, title, tuple(steps), summary, file)


def load_runbooks(directory: str | pathlib.Path) -> dict[str, Runbook]:
    """Load every ``*.yaml``/``*.yml`` of ``directory``, keyed by incident type.

    A missing directory, a file that is not a valid runbook or two files for one type raise
    ConfigError; an empty directory gives an empty dict (incidents then carry no runbook).
    """
    folder = pathlib.Path(directory)
    if not folder.is_dir():
        raise ConfigError(str(folder), '', 'runbook directory not found')
    books: dict[str, Runbook] = {}
    for path in sorted(p for p in folder.iterdir()
                       if p.suffix in RUNBOOK_SUFFIXES and p.is_file()):
        book = load_runbook(path)
        if book.type in books:
            raise ConfigError(str(path), 'type', f'duplicate runbook for {book.type!r} '
                              f'(also in {books[book.type].source})')
        books[book.type] = book
    return books
