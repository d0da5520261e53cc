"""The verbs, one module per resource; each module's ``register(verbs)`` adds its
sub-commands to the parser, and every sub-command sets ``func(ctx, args) -> exit code``."""

from __future__ import annotations

from types import ModuleType

from fleet_cli.commands import (
    audit,
    config,
    events,
    incident_ops,
    incidents,
    missions,
    robots,
    rollouts,
)

RESOURCES: tuple[ModuleType, ...] = (robots, missions, incidents, incident_ops, events, config,
                                     rollouts, audit)
"""The modules of verbs, in the order ``--help`` lists them."""
