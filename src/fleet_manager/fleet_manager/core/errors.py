"""Errors the fleet manager's domain raises, with the detail a user needs to fix the cause.

``ConfigError`` is :class:`fleet_common.config.ConfigError` (the one class every config loader
of the suite raises), re-exported here for the manager's callers.
"""

from __future__ import annotations

from fleet_common.config import ConfigError

__all__ = ['ConfigError', 'Conflict', 'IncidentNotFound', 'InvalidTransition', 'NotFound',
           'ValidationError']


class ValidationError(ValueError):
    """A request is invalid; ``field`` names the offending field (e.g. ``waypoints[0].x``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f'{field}: {message}' if field else message)


class NotFound(LookupError):
    """The named object does not exist."""


class Conflict(RuntimeError):
    """The request conflicts with the current state (e.g. an idempotency key reused)."""


class IncidentNotFound(NotFound):
    """No incident has the given id (the API answers 404)."""

    def __init__(self, incident_id: str) -> None:
        self.incident_id = incident_id
        super().__init__(f'unknown incident {incident_id!r}')


class InvalidTransition(Conflict):
    """The incident's state does not allow the requested change (the API answers 409).

    ``state`` is the incident's current state label and ``action`` what was asked, e.g.
    acknowledging an incident that is already resolved.
    """

    def __init__(self, incident_id: str, state: str, action: str) -> None:
        self.incident_id = incident_id
        self.state = state
        self.action = action
        super().__init__(f'cannot {action} incident {incident_id!r}: it is {state}')
