"""Read YAML configuration files, with errors that say which file and where in it.

Every loader of the suite (the fleet definition, workflows, runbooks, SLOs, the bridge's
``web.yaml``) reads through this module, so every mistake is reported the same way::

    config/fleet.yaml: robots[2].dock: unknown dock 'dock_9' (map.docks has: dock_1, dock_2)
    config/slos.yaml: line 6, column 5: invalid YAML: found duplicate key 'objective' ...
    config/web.yaml: cannot read: file not found

Two steps:

* :func:`read_yaml` reads and parses a file. A missing or unreadable file, bytes that are not
  UTF-8, YAML syntax errors and duplicate mapping keys (which plain PyYAML silently resolves
  to the last one) raise :class:`ConfigError` whose ``key`` is the position
  (``line 4, column 7``) and whose ``line``/``column`` attributes hold it as numbers.
* :class:`ConfigReader` checks the parsed tree. Each accessor takes the value and its key
  path (``robots[2].dock``) and returns the value with the type asked for, or raises
  :class:`ConfigError` naming the file and that key. ``None`` (an absent key or an explicit
  ``null``) counts as absent: optional accessors give an empty value, required ones say
  ``is required``.

Messages read ``<file>: <key>: <what is wrong>``; ``str(error)`` can be shown to the user as
it is. Nothing here imports rclpy.
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Any, Callable, Iterable, TypeVar

import yaml

__all__ = ['ConfigError', 'ConfigReader', 'parse_yaml', 'read_yaml', 'type_name']

T = TypeVar('T')


class ConfigError(ValueError):
    """A configuration file is malformed or invalid.

    ``file`` is the path of the file and ``key`` where in it: the dotted/indexed path of the
    offending entry (``robots[2].dock``), a position (``line 4, column 7``) for errors found
    before the tree exists, or ``''`` for the file as a whole. ``reason`` is the message
    without the location; ``line`` and ``column`` (1-based) are set for position errors.
    ``str(error)`` names the file and the key.
    """

    def __init__(self, file: str, key: str, message: str, *, line: int | None = None,
                 column: int | None = None) -> None:
        self.file = str(file)
        self.key = key
        self.reason = message
        self.line = line
        self.column = column
        where = f'{self.file}: {key}' if key else self.file
        super().__init__(f'{where}: {message}')


def _position(line: int, column: int) -> str:
    return f'line {line}, column {column}'


# -- reading -------------------------------------------------------------------------------

class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key repeated in one mapping is an error."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode,
                              deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            break
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f'found duplicate key {key!r} (first at line {first.line + 1})',
                key_node.start_mark)
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_unique_mapping)


def _decode(file: str, data: bytes) -> str:
    """Return ``data`` as text; ConfigError at the first byte that is not UTF-8."""
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b'\n') + 1
        column = len(before[before.rfind(b'\n') + 1:].decode('utf-8', 'replace')) + 1
        raise ConfigError(file, _position(line, column),
                          f'cannot read: not valid UTF-8 (byte 0x{data[exc.start]:02x} at '
                          f'offset {exc.start}); save the file as UTF-8',
                          line=line, column=column) from None


def _yaml_error(file: str, text: str, exc: yaml.YAMLError) -> ConfigError:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        before = text[:exc.position]
        line, column = before.count('\n') + 1, len(before) - (before.rfind('\n') + 1) + 1
        char = exc.character
        code = char if isinstance(char, int) else ord(char[:1] or ' ')
        return ConfigError(file, _position(line, column),
                           f'invalid YAML: character U+{code:04X} is not allowed '
                           '(a control character)', line=line, column=column)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or 'invalid YAML'
        if exc.context and exc.problem:
            context_mark = exc.context_mark
            since = '' if context_mark is None or context_mark == mark else \
                f' at {_position(context_mark.line + 1, context_mark.column + 1)}'
            problem = f'{problem} ({exc.context}{since})'
        if mark is not None:
            line, column = mark.line + 1, mark.column + 1
            return ConfigError(file, _position(line, column), f'invalid YAML: {problem}',
                               line=line, column=column)
        return ConfigError(file, '', f'invalid YAML: {problem}')
    return ConfigError(file, '', f'invalid YAML: {exc}')


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Read and parse the YAML file at ``path``; raise :class:`ConfigError` naming the file.

    Returns what the file holds (``None`` for an empty file). A missing file says ``cannot
    read: file not found``; other I/O errors ``cannot read: <reason>``; bytes that are not
    UTF-8, YAML syntax errors and duplicate keys give the line and column as the key (and as
    ``error.line``/``error.column``).
    """
    file = os.fspath(path)
    try:
        data = pathlib.Path(file).read_bytes()
    except FileNotFoundError:
        raise ConfigError(file, '', 'cannot read: file not found') from None
    except OSError as exc:
        raise ConfigError(file, '', f'cannot read: {exc.strerror or exc}') from None
    return parse_yaml(data, file)


def parse_yaml(data: bytes | str, file: str) -> Any:
    """Parse YAML ``data`` (the contents of ``file``, which is only used in messages) with
    the same checks and errors as :func:`read_yaml`: text that is not UTF-8, YAML syntax
    errors and duplicate keys raise :class:`ConfigError` naming ``file`` and the position.

    For configuration that does not come from a local file (a desired-state document sent
    to the manager, for instance).
    """
    text = _decode(file, data) if isinstance(data, bytes) else data
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _yaml_error(file, text, exc) from None


# -- checking ------------------------------------------------------------------------------

def type_name(value: Any) -> str:
    """Return the YAML name of ``value``'s type (``mapping``, ``list``, ``string`` ...)."""
    return {dict: 'mapping', list: 'list', str: 'string', bool: 'boolean', int: 'integer',
            float: 'number', type(None): 'null'}.get(type(value), type(value).__name__)


def _join(key: str, name: object) -> str:
    return f'{key}.{name}' if key else str(name)


class ConfigReader:
    """Typed access to a parsed YAML tree; every failure is a ConfigError(file, key).

    Each accessor takes ``value`` (usually ``section.get('name')``) and ``key``, the path of
    that value for messages (``robots[2].dock``), and returns it checked.
    """

    def __init__(self, file: str | os.PathLike[str]) -> None:
        self.file = os.fspath(file)

    def fail(self, key: str, message: str) -> ConfigError:
        """Return (not raise) the error for ``key`` so callers can ``raise r.fail(...)``."""
        return ConfigError(self.file, key, message)

    def root(self, value: Any, *, allow_empty: bool = False) -> dict[str, Any]:
        """Return the document ``value`` as a mapping; an empty file is an error unless
        ``allow_empty`` (then it is an empty mapping)."""
        if value is None and not allow_empty:
            raise self.fail('', 'file is empty')
        return self.mapping(value, '')

    def mapping(self, value: Any, key: str, *, required: bool = False) -> dict[str, Any]:
        """Return ``value`` as a mapping with string keys; None is {} unless ``required``."""
        if value is None:
            if required:
                raise self.fail(key, 'is required (must be a mapping)')
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f'must be a mapping, got {type_name(value)}')
        for name in value:
            if not isinstance(name, str):
                raise self.fail(key, f'keys must be strings, got {name!r}')
        return value

    def seq(self, value: Any, key: str, *, required: bool = False) -> list[Any]:
        """Return ``value`` as a list; None is an empty list unless ``required``."""
        if value is None:
            if required:
                raise self.fail(key, 'is required (must be a list)')
            return []
        if not isinstance(value, list):
            raise self.fail(key, f'must be a list, got {type_name(value)}')
        return value

    def string(self, value: Any, key: str, *, required: bool = False) -> str:
        """Return ``value`` as a string; None is '' unless ``required``, which also refuses
        a blank string."""
        if value is None:
            if required:
                raise self.fail(key, 'is required (must be a string)')
            return ''
        if not isinstance(value, str):
            raise self.fail(key, f'must be a string, got {type_name(value)} {value!r}')
        if required and not value.strip():
            raise self.fail(key, 'must not be empty')
        return value

    def strings(self, value: Any, key: str, *, required: bool = False) -> tuple[str, ...]:
        """Return a string or a list of strings as a tuple (a single string is one item)."""
        if isinstance(value, str):
            return (self.string(value, key, required=True),)
        items = self.seq(value, key, required=required)
        if required and not items:
            raise self.fail(key, 'must not be empty')
        return tuple(self.string(v, f'{key}[{i}]', required=True) for i, v in enumerate(items))

    def number(self, value: Any, key: str, *, minimum: float | None = None,
               above: float | None = None) -> float:
        """Return a finite int/float as float, at least ``minimum`` and greater than
        ``above`` when given; booleans and strings are rejected."""
        if value is None:
            raise self.fail(key, 'is required (must be a number)')
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f'must be a number, got {type_name(value)} {value!r}')
        if not math.isfinite(value):
            raise self.fail(key, f'must be finite, got {value!r}')
        self._check_bounds(value, key, minimum, above)
        return float(value)

    def positive(self, value: Any, key: str) -> float:
        """Return a number > 0 (a duration in seconds, typically)."""
        return self.number(value, key, above=0)

    def integer(self, value: Any, key: str, *, minimum: int | None = None) -> int:
        """Return an int (not a bool, not a float) no smaller than ``minimum``."""
        if value is None:
            raise self.fail(key, 'is required (must be an integer)')
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f'must be an integer, got {type_name(value)} {value!r}')
        self._check_bounds(value, key, minimum, None)
        return value

    def _check_bounds(self, value: float, key: str, minimum: float | None,
                      above: float | None) -> None:
        if minimum is not None and value < minimum:
            raise self.fail(key, f'must be at least {minimum:g}, got {value!r}')
        if above is not None and value <= above:
            raise self.fail(key, f'must be greater than {above:g}, got {value!r}')

    def convert(self, value: Any, key: str, parse: Callable[[Any], T]) -> T:
        """Return ``parse(value)``; a ValueError it raises becomes a ConfigError at ``key``
        with the same text (a ConfigError passes through as it is)."""
        try:
            return parse(value)
        except ConfigError:
            raise
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def boolean(self, value: Any, key: str, default: bool = False) -> bool:
        """Return a YAML bool; None gives ``default``."""
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f'must be true or false, got {value!r}')
        return value

    def unknown_keys(self, data: dict[str, Any], allowed: Iterable[str], key: str) -> None:
        """Reject keys of ``data`` not in ``allowed`` (catches typos such as ``windw``)."""
        allowed = set(allowed)
        for name in data:
            if name not in allowed:
                raise self.fail(_join(key, name), 'unknown key (expected one of: '
                                f'{", ".join(sorted(allowed))})')

    def keys(self, data: dict[str, Any], key: str, required: Iterable[str] = (),
             optional: Iterable[str] = ()) -> None:
        """Reject unknown keys of ``data``, then absent ``required`` ones (in the order
        given), so a misspelt required key is reported as the typo it is."""
        required = tuple(required)
        self.unknown_keys(data, (*required, *optional), key)
        for name in required:
            if name not in data:
                raise self.fail(_join(key, name), 'is required')

    def single_key(self, value: Any, key: str, what: str) -> tuple[str, Any]:
        """Return (name, body) of a one-key mapping such as ``{notify: ops}``; a plain
        string is a name without a body."""
        if isinstance(value, str):
            return value, None
        data = self.mapping(value, key, required=True)
        if len(data) != 1:
            raise self.fail(key, f'each {what} must be a mapping with exactly one key, '
                            f'got {len(data)} keys')
        name = next(iter(data))
        return name, data[name]
