"""Reading YAML configuration with errors that name the file and the key.

Every loader of the manager (fleet definition, workflows, runbooks) reads through
:class:`ConfigReader`, so every mistake is reported the same way:
``<file>: <key>: <what is wrong>`` (:class:`~fleet_manager.core.errors.ConfigError`).
"""

from __future__ import annotations

import math
import pathlib
from typing import Any, Iterable

import yaml

from fleet_manager.core.errors import ConfigError


def parse_yaml_file(path: str | pathlib.Path) -> Any:
    """Read a YAML file, raising ConfigError (file, line) for a missing file or bad syntax."""
    file = str(path)
    try:
        text = pathlib.Path(path).read_text(encoding='utf-8')
    except FileNotFoundError:
        raise ConfigError(file, '', 'file not found') from None
    except OSError as exc:
        raise ConfigError(file, '', f'cannot read: {exc.strerror}') from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = f'line {mark.line + 1}' if mark is not None else ''
        problem = getattr(exc, 'problem', None) or str(exc)
        raise ConfigError(file, where, f'invalid YAML: {problem}') from None


class ConfigReader:
    """Typed access to a parsed YAML tree; every failure is a ConfigError(file, key)."""

    def __init__(self, file: str) -> None:
        self.file = str(file)

    def fail(self, key: str, message: str) -> ConfigError:
        """Return (not raise) the error for ``key`` so callers can ``raise r.fail(...)``."""
        return ConfigError(self.file, key, message)

    def mapping(self, value: Any, key: str, *, required: bool = False) -> dict[str, Any]:
        """Return ``value`` as a mapping; None is an empty mapping unless ``required``."""
        if value is None:
            if required:
                raise self.fail(key, 'is required')
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f'must be a mapping, got {_type_name(value)}')
        for name in value:
            if not isinstance(name, str):
                raise self.fail(key, f'keys must be strings, got {name!r}')
        return value

    def seq(self, value: Any, key: str, *, required: bool = False) -> list[Any]:
        """Return ``value`` as a list; None is an empty list unless ``required``."""
        if value is None:
            if required:
                raise self.fail(key, 'is required')
            return []
        if not isinstance(value, list):
            raise self.fail(key, f'must be a list, got {_type_name(value)}')
        return value

    def string(self, value: Any, key: str, *, required: bool = False) -> str:
        """Return ``value`` as a string; None is '' unless ``required``."""
        if value is None:
            if required:
                raise self.fail(key, 'is required')
            return ''
        if not isinstance(value, str):
            raise self.fail(key, f'must be a string, got {_type_name(value)}')
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

    def number(self, value: Any, key: str) -> float:
        """Return a finite int/float as float; bools and strings are rejected."""
        if value is None:
            raise self.fail(key, 'is required')
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f'must be a number, got {_type_name(value)} {value!r}')
        if not math.isfinite(value):
            raise self.fail(key, f'must be finite, got {value!r}')
        return float(value)

    def positive(self, value: Any, key: str) -> float:
        """Return a number > 0 (a duration in seconds, typically)."""
        number = self.number(value, key)
        if number <= 0:
            raise self.fail(key, f'must be greater than 0, got {value!r}')
        return number

    def integer(self, value: Any, key: str, *, minimum: int | None = None) -> int:
        """Return an int (not a bool, not a float) no smaller than ``minimum``."""
        if value is None:
            raise self.fail(key, 'is required')
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f'must be an integer, got {_type_name(value)} {value!r}')
        if minimum is not None and value < minimum:
            raise self.fail(key, f'must be at least {minimum}, got {value}')
        return value

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
                where = f'{key}.{name}' if key else str(name)
                raise self.fail(where, 'unknown key (expected one of: '
                                f'{", ".join(sorted(allowed))})')

    def single_key(self, value: Any, key: str, what: str) -> tuple[str, Any]:
        """Return (name, body) of a one-key mapping such as ``{notify: ops}``."""
        if isinstance(value, str):
            return value, None
        data = self.mapping(value, key, required=True)
        if len(data) != 1:
            raise self.fail(key, f'each {what} must be a mapping with exactly one key, '
                            f'got {len(data)} keys')
        name = next(iter(data))
        return name, data[name]


def _type_name(value: Any) -> str:
    return {dict: 'mapping', list: 'list', str: 'string', bool: 'boolean', int: 'integer',
            float: 'number', type(None): 'null'}.get(type(value), type(value).__name__)
