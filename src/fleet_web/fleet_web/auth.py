"""API keys of the HTTP API: bearer tokens with scopes, kept only as SHA-256 hashes.

Keys come from the ``api_keys:`` section of the config file, each either::

    - {name: erp, token_sha256: <64 hex digits>, scopes: [read, missions:write]}
    - {name: ops, token_env: FLEET_OPS_TOKEN, scopes: [admin]}   # token read from the env
    - {name: alice, token_env: ALICE_TOKEN, scopes: [incidents:write], person: Alice Ng}

and from the environment variable ``FLEET_TOKEN`` (an admin key named ``env:FLEET_TOKEN``).
A key with ``person`` is a per-person key: what is done with it (acknowledgements, notes,
silences, postmortem edits, robot commands) is recorded under that person's name. What is
done with a shared key (no ``person``, e.g. ``env:FLEET_TOKEN``) is recorded under the name
the operator gives, with the key (``alice (key env:FLEET_TOKEN)``), or the key's name alone.

Plain tokens are hashed as soon as they are read and never stored, logged or shown in a
``repr``; a presented token is hashed and compared with every stored hash in constant time
(:func:`hmac.compare_digest`). ``admin`` implies every other scope.

Hash a token for the config file with ``python -m fleet_web.auth hash-token`` (the token is
read from standard input, without echo on a terminal).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import enum
import getpass
import hashlib
import hmac
import logging
import os
import re
import sys
from typing import Any, Iterable, Mapping, Sequence

from fleet_common.config import ConfigReader

log = logging.getLogger(__name__)

ENV_TOKEN_VAR = 'FLEET_TOKEN'
"""The environment variable whose token, when set, is an admin key."""

_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
_HEX_RE = re.compile(r'^[0-9a-fA-F]{64}$')
_KEY_FIELDS = ('name', 'token_sha256', 'token_env', 'scopes', 'person')
MAX_PERSON = 100  # characters of a person's name


class Scope(str, enum.Enum):
    """What an API key may do."""

    READ = 'read'
    """Read fleet state, missions, incidents, events and webhook deliveries."""

    MISSIONS_WRITE = 'missions:write'
    """Create, cancel and change missions."""

    INCIDENTS_WRITE = 'incidents:write'
    """Open, acknowledge and resolve incidents."""

    ADMIN = 'admin'
    """Everything, including operations (e.g. retrying dead webhook deliveries)."""


def _scope(value: Scope | str) -> Scope:
    try:
        return Scope(value)
    except ValueError:
        known = ', '.join(s.value for s in Scope)
        raise ValueError(f'unknown scope {value!r} (known: {known})') from None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the key's name and scopes (never the token)."""

    name: str
    scopes: frozenset[Scope]
    person: str = ''
    """The person a per-person key belongs to ('' for a shared key)."""

    def who(self, given: str = '') -> str:
        """Return who acts: a per-person key's person; else the name the operator gives,
        with the key it came through (``alice (key env:FLEET_TOKEN)``); else the key's name."""
        if self.person:
            return self.person
        given = given.strip()
        return f'{given} (key {self.name})' if given else self.name

    def allows(self, scope: Scope | str) -> bool:
        """Return True when the key has ``scope`` or ``admin``. ValueError for an unknown
        scope (so a typo never passes for an admin)."""
        wanted = _scope(scope)
        return Scope.ADMIN in self.scopes or wanted in self.scopes


def hash_token(token: str) -> str:
    """Return the lowercase hex SHA-256 of the token (UTF-8): the config's ``token_sha256``."""
    return hashlib.sha256(token.encode('utf-8')).hexdigest()


def _read_key(r: ConfigReader, item: Any, where: str,
              env: Mapping[str, str]) -> tuple[str, str, list[Scope], str]:
    """Return (name, token_sha256, scopes, person) of one ``api_keys`` entry; ConfigError naming
    its key otherwise. A ``token_env`` token is hashed at once and never kept."""
    item = r.mapping(item, where, required=True)
    r.unknown_keys(item, _KEY_FIELDS, where)
    name = item.get('name')
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise r.fail(f'{where}.name', 'required: letters, digits, "_", "." or "-" (at most 64)')
    if ('token_sha256' in item) == ('token_env' in item):
        raise r.fail(where, 'give exactly one of token_sha256, token_env')
    if 'token_sha256' in item:
        digest = item['token_sha256']
        if not isinstance(digest, str) or not _HEX_RE.match(digest):
            raise r.fail(f'{where}.token_sha256',
                         'must be 64 hex digits (python -m fleet_web.auth hash-token)')
        digest = digest.lower()
    else:
        var = item['token_env']
        if not isinstance(var, str) or not var:
            raise r.fail(f'{where}.token_env', 'must name an environment variable')
        token = env.get(var, '').strip()
        if not token:
            raise r.fail(f'{where}.token_env', f'environment variable {var} is not set or empty')
        digest = hash_token(token)
    scopes = r.seq(item.get('scopes'), f'{where}.scopes')
    if not scopes:
        raise r.fail(f'{where}.scopes', 'must be a non-empty list of scopes')
    person = item.get('person', '')
    if not isinstance(person, str) or len(person) > MAX_PERSON or '\x00' in person:
        raise r.fail(f'{where}.person', f'a name of at most {MAX_PERSON} characters')
    return (name, digest, [r.convert(s, f'{where}.scopes', _scope) for s in scopes],
            person.strip())


class KeyStore:
    """The known API keys, as (SHA-256 digest, :class:`Principal`) pairs.

    ``keys`` are ``(name, token_sha256 hex, scopes)`` or ``(..., person)``. Raises ValueError
    for a malformed hash, an unknown scope, or a duplicate name or hash.
    """

    def __init__(self, keys: Iterable[tuple[Any, ...]] = ()) -> None:
        entries: list[tuple[bytes, Principal]] = []
        for name, token_sha256, scopes, *person in keys:
            if not _HEX_RE.match(token_sha256):
                raise ValueError(f'key {name!r}: token_sha256 must be 64 hex digits')
            digest = bytes.fromhex(token_sha256)
            if any(existing.name == name for _, existing in entries):
                raise ValueError(f'duplicate key name {name!r}')
            if any(hmac.compare_digest(digest, known) for known, _ in entries):
                raise ValueError(f'key {name!r} has the same token as another key')
            principal = Principal(name, frozenset(_scope(s) for s in scopes),
                                  str(person[0]) if person else '')
            entries.append((digest, principal))
        self._entries = tuple(entries)

    @classmethod
    def from_config(cls, section: Any, *, file: str, env: Mapping[str, str] | None = None,
                    include_env_token: bool = True) -> KeyStore:
        """Build the key store from the ``api_keys:`` section (None: no keys) plus, when
        ``include_env_token``, ``FLEET_TOKEN`` from ``env`` (default ``os.environ``).

        Raises :class:`~fleet_common.config.ConfigError` naming the file and key (e.g.
        ``api_keys[0].scopes``), also when a ``token_env`` variable is unset or empty.
        """
        env = os.environ if env is None else env
        r = ConfigReader(file)
        keys: list[tuple[str, str, list[Scope], str]] = []
        for index, item in enumerate(r.seq(section, 'api_keys')):
            name, digest, scopes, person = _read_key(r, item, f'api_keys[{index}]', env)
            if any(name == k[0] for k in keys):
                raise r.fail(f'api_keys[{index}].name', f'duplicate key name {name!r}')
            if any(digest == k[1] for k in keys):
                raise r.fail(f'api_keys[{index}]', 'the same token as another key')
            keys.append((name, digest, scopes, person))
        env_token = env.get(ENV_TOKEN_VAR, '').strip() if include_env_token else ''
        if env_token:
            digest = hash_token(env_token)
            if any(digest == k[1] for k in keys):
                raise r.fail('api_keys', f'a key has the same token as {ENV_TOKEN_VAR}')
            keys.append((f'env:{ENV_TOKEN_VAR}', digest, [Scope.ADMIN], ''))
        store = cls(keys)
        log.info('API keys loaded: %s', ', '.join(store.names()) or 'none')
        return store

    def names(self) -> list[str]:
        """Return the key names."""
        return [principal.name for _, principal in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def principal(self, name: str) -> Principal | None:
        """Return the principal of the key called ``name``, or None."""
        return next((p for _, p in self._entries if p.name == name), None)

    def __repr__(self) -> str:
        keys = ', '.join(f"{p.name}[{','.join(sorted(s.value for s in p.scopes))}]"
                         for _, p in self._entries)
        return f'KeyStore({keys})'

    def authenticate_token(self, token: str) -> Principal | None:
        """Return the principal whose token this is, or None. Every stored hash is compared
        (constant time each, no early exit)."""
        if not token:
            return None
        digest = hashlib.sha256(token.encode('utf-8')).digest()
        found: Principal | None = None
        for known, principal in self._entries:
            if hmac.compare_digest(digest, known):
                found = principal
        return found

    def authenticate(self, header_value: str | None) -> Principal | None:
        """Return the principal of an ``Authorization: Bearer <token>`` header value, or None
        when the header is missing, malformed or the token is unknown."""
        if not header_value:
            return None
        scheme, _, token = header_value.strip().partition(' ')
        token = token.strip()
        if scheme.lower() != 'bearer' or not token or any(c.isspace() for c in token):
            return None
        return self.authenticate_token(token)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fleet_web.auth hash-token``: print the SHA-256 of the token on stdin."""
    parser = argparse.ArgumentParser(prog='python -m fleet_web.auth',
                                     description='API key helpers of the fleet HTTP bridge.')
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('hash-token', help='read a token from stdin and print its token_sha256')
    parser.parse_args(argv)
    if sys.stdin.isatty():
        token = getpass.getpass('token: ')
    else:
        token = sys.stdin.read()
    token = token.strip()
    if not token:
        print('error: empty token', file=sys.stderr)
        return 2
    print(hash_token(token))
    return 0


if __name__ == '__main__':
    sys.exit(main())
