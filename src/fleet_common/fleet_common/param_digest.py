"""Digests of ROS parameter values, computed the same way by the agent and the manager.

The manager declares parameters per robot node (``{node: {name: value}}``, from the desired
state); the agent reads the same names through the nodes' parameter services and reports a
digest per node. Both sides use :func:`node_digest`, so equal values give equal digests:

* numbers compare as numbers: an integer declared in YAML (``inflation_radius: 1``) equals
  the double a node holds (``1.0``); booleans stay booleans (``True`` is not ``1``);
* lists compare item by item (byte arrays as lists of integers);
* a parameter the node does not have is ``None``.

No rclpy here.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Mapping

__all__ = ['canonical', 'config_digest', 'node_digest', 'same_value']

DIGEST_CHARS = 16
"""Hex characters kept of each SHA-256 digest."""


def canonical(value: Any) -> Any:
    """Return ``value`` in the form digests are computed on (see the module docstring)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    if isinstance(value, (bytes, bytearray)):
        return [float(b) for b in value]
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    raise TypeError(f'not a parameter value: {type(value).__name__} {value!r}')


def same_value(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same parameter value (see :func:`canonical`)."""
    return canonical(a) == canonical(b)


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


def node_digest(values: Mapping[str, Any]) -> str:
    """Return the digest of one node's parameters (name -> value)."""
    return _digest({name: canonical(v) for name, v in values.items()})


def config_digest(nodes: Mapping[str, Mapping[str, Any]]) -> str:
    """Return the digest of a robot's declared parameters (node -> name -> value)."""
    return _digest({node: node_digest(values) for node, values in nodes.items()})
