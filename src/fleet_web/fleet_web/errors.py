"""Errors the HTTP bridge raises, with the detail a user needs to fix the cause.

``ConfigError`` is :class:`fleet_common.config.ConfigError` (the one class every config loader
of the suite raises), re-exported here for the bridge's callers.
"""

from __future__ import annotations

from fleet_common.config import ConfigError

__all__ = ['ConfigError', 'Conflict', 'NotFound']


class NotFound(LookupError):
    """The named object (for example a webhook delivery) does not exist."""


class Conflict(RuntimeError):
    """The request conflicts with the current state (e.g. retrying a delivery that is not dead)."""
