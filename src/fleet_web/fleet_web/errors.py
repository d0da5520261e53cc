"""Errors the HTTP bridge raises, with the detail a user needs to fix the cause."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file is malformed or invalid.

    ``file`` is the path of the file and ``key`` the dotted/indexed path of the offending
    entry (for example ``webhooks[2].url``); ``str(error)`` names both, so the message can be
    shown to the user as it is. ``reason`` is the message without the location.
    """

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = str(file)
        self.key = key
        self.reason = message
        where = f'{self.file}: {key}' if key else self.file
        super().__init__(f'{where}: {message}')


class NotFound(LookupError):
    """The named object (for example a webhook delivery) does not exist."""


class Conflict(RuntimeError):
    """The request conflicts with the current state (e.g. retrying a delivery that is not dead)."""
