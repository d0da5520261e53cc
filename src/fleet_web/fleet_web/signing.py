"""Standard Webhooks 1.0 signatures (https://www.standardwebhooks.com/).

Every webhook and mission-callback request carries::

    webhook-id: <message id>            stable across retries: receivers de-duplicate by it
    webhook-timestamp: <unix seconds>   of this attempt
    webhook-signature: v1,<base64> [v1,<base64> ...]

Each ``v1`` signature is the base64 of HMAC-SHA256 over ``f'{id}.{timestamp}.{body}'``, keyed
by a secret's bytes. Secrets are written ``whsec_<base64 of 24 to 64 random bytes>``
(:func:`new_secret` makes one). A subscription may hold several secrets at once, and the
request then carries one signature per secret, so a secret is rotated without a gap: add the
new one, let receivers switch, remove the old one.

Receivers can use any Standard Webhooks library (the ``standardwebhooks`` package verifies
these requests as they are) or :func:`verify` here, which also refuses timestamps more than
``future_s`` seconds ahead of the receiver's clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from typing import Mapping, Sequence

PREFIX = 'whsec_'
ID_HEADER = 'webhook-id'
TIMESTAMP_HEADER = 'webhook-timestamp'
SIGNATURE_HEADER = 'webhook-signature'
MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 64


def new_secret(nbytes: int = 32) -> str:
    """Return a fresh ``whsec_`` secret of ``nbytes`` random bytes."""
    return PREFIX + base64.b64encode(_random.token_bytes(nbytes)).decode('ascii')


def secret_key(secret: str) -> bytes:
    """Return the key bytes of a ``whsec_<base64>`` secret.

    ValueError (saying what is wrong, never echoing the secret) for anything else.
    """
    if not secret.startswith(PREFIX):
        raise ValueError('must be a Standard Webhooks secret: whsec_ followed by base64 '
                         '(make one with: python -m fleet_web.signing new-secret)')
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError('the part after whsec_ is not valid base64') from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f'the key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, '
                         f'not {len(key)}')
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return ``v1,<base64 HMAC-SHA256(key, id.timestamp.body)>``."""
    message = f'{msg_id}.{timestamp}.'.encode('utf-8') + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return 'v1,' + base64.b64encode(digest).decode('ascii')


def headers(keys: Sequence[bytes], msg_id: str, timestamp: int,
            body: bytes) -> dict[str, str]:
    """Return the three Standard Webhooks headers (one signature per key; none without
    keys: ``webhook-signature`` is then left out)."""
    out = {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(int(timestamp))}
    if keys:
        out[SIGNATURE_HEADER] = ' '.join(sign(key, msg_id, int(timestamp), body)
                                         for key in keys)
    return out


def verify(secrets: Sequence[str], request_headers: Mapping[str, str], body: bytes,
           now: float, tolerance_s: float = 300.0, future_s: float = 5.0) -> bool:
    """Return True when a request is signed by one of ``secrets`` and fresh.

    ``request_headers`` are matched without regard to case. False when a header is missing,
    the timestamp is not an integer, lies more than ``tolerance_s`` seconds in the past or
    more than ``future_s`` seconds in the future of ``now`` (the receiver's Unix time), or no
    ``v1`` signature matches (compared in constant time).
    """
    lowered = {k.lower(): v for k, v in request_headers.items()}
    msg_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER)
    signatures = lowered.get(SIGNATURE_HEADER)
    if not msg_id or not stamp or not signatures:
        return False
    try:
        timestamp = int(stamp.strip())
    except ValueError:
        return False
    if timestamp < now - tolerance_s or timestamp > now + future_s:
        return False
    offered = [part.partition(',')[2].encode('ascii', 'replace')
               for part in signatures.split() if part.startswith('v1,')]
    for secret in secrets:
        expected = sign(secret_key(secret), msg_id, timestamp, body)
        wanted = expected.partition(',')[2].encode('ascii')
        if any(hmac.compare_digest(wanted, candidate) for candidate in offered):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fleet_web.signing new-secret``: print a fresh ``whsec_`` secret."""
    import argparse
    parser = argparse.ArgumentParser(prog='python -m fleet_web.signing',
                                     description='Standard Webhooks secrets for web.yaml.')
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('new-secret', help='print a new whsec_ secret (32 random bytes)')
    parser.parse_args(argv)
    print(new_secret())
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
