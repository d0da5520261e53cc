"""Outbound requests that cannot be turned against the bridge's own network (no SSRF).

Every webhook and mission-callback destination goes through :class:`EgressPolicy`:

* only ``http`` and ``https`` URLs with a host;
* the host is resolved, and **every** address it resolves to must be public
  (``ipaddress``'s ``is_global``, and not multicast): loopback, private, link-local (the cloud
  metadata address 169.254.169.254 among them), shared, reserved and unspecified addresses
  are refused unless a network of ``egress.allow`` in ``web.yaml`` contains them;
* the connection is made to the addresses that were checked: the client session's resolver
  is :class:`GuardedResolver`, so a DNS answer that changes between the check and the connect
  (DNS rebinding) is checked again;
* redirects are never followed (a 3xx is a failed attempt).

Nothing of a response but its status line is kept (see :mod:`fleet_web.webhooks`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import ipaddress
import socket
from typing import Any, Iterable
import urllib.parse

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from fleet_common.config import ConfigReader

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

RESOLVE_TIMEOUT_S = 5.0
"""How long one destination check waits for DNS."""


class EgressRefused(Exception):
    """The destination is not allowed; ``str()`` says why without naming the full URL."""


def _kind(address: Address) -> str:
    """Name the range an address is in (for messages)."""
    for attr, name in (('is_loopback', 'loopback'), ('is_link_local', 'link-local'),
                       ('is_private', 'private'), ('is_multicast', 'multicast'),
                       ('is_unspecified', 'unspecified'), ('is_reserved', 'reserved')):
        if getattr(address, attr):
            return name
    return 'non-public'


def origin(url: str) -> str:
    """Return ``scheme://host:port`` of an http(s) URL (lowercase, explicit port): the
    destination that names a delivery queue. ValueError for anything else."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise ValueError('must be an http:// or https:// URL with a host')
    port = parts.port or (443 if parts.scheme == 'https' else 80)
    host = parts.hostname.lower()
    if ':' in host:
        host = f'[{host}]'
    return f'{parts.scheme}://{host}:{port}'


@dataclass(frozen=True)
class EgressPolicy:
    """The networks outbound requests may reach besides public addresses."""

    allow: tuple[Network, ...] = ()

    @classmethod
    def from_config(cls, section: Any, *, file: str) -> EgressPolicy:
        """Build from ``egress: {allow: [CIDR, ...]}`` (None: public addresses only).

        Raises :class:`~fleet_common.config.ConfigError` naming ``egress.allow[i]``.
        """
        r = ConfigReader(file)
        section = r.mapping(section, 'egress')
        r.unknown_keys(section, ('allow',), 'egress')
        networks: list[Network] = []
        for index, item in enumerate(r.seq(section.get('allow'), 'egress.allow')):
            where = f'egress.allow[{index}]'
            if not isinstance(item, str):
                raise r.fail(where, 'must be an address or network, e.g. 10.0.0.0/8')
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise r.fail(where, f'not an address or network: {exc}') from None
        return cls(tuple(networks))

    def check_address(self, address: Address | str) -> None:
        """Raise :class:`EgressRefused` unless the address may be reached."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allow):
            return
        if ip.is_global and not ip.is_multicast:
            return
        raise EgressRefused(f'{ip} is a {_kind(ip)} address (not in egress.allow)')

    def check_addresses(self, addresses: Iterable[Address | str]) -> None:
        """Raise :class:`EgressRefused` unless every address may be reached (and there is
        one)."""
        found = False
        for address in addresses:
            found = True
            self.check_address(address)
        if not found:
            raise EgressRefused('the host resolves to no address')

    def check_literal(self, url: str) -> str:
        """Check what can be checked without DNS: the scheme, the host, and the host when it
        is an IP address. Returns the host. Raises :class:`EgressRefused`."""
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise EgressRefused('not a valid URL') from None
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise EgressRefused('must be an http:// or https:// URL with a host')
        host = parts.hostname
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return host
        self.check_address(literal)
        return host

    async def check_url(self, url: str, timeout_s: float = RESOLVE_TIMEOUT_S) -> None:
        """Check a destination after DNS resolution; raise :class:`EgressRefused`.

        A host that does not resolve raises OSError (a transient failure, not a refusal).
        """
        host = self.check_literal(url)
        try:
            ipaddress.ip_address(host)
            return
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout_s)
        self.check_addresses(str(info[4][0]) for info in infos)


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses hosts resolving to an address the policy refuses."""

    def __init__(self, policy: EgressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """Resolve with the inner resolver; raise :class:`EgressRefused` if any address is
        refused."""
        results = await self._inner.resolve(host, port, family)
        self._policy.check_addresses(result['host'] for result in results)
        return results

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()


def client_session(policy: EgressPolicy) -> aiohttp.ClientSession:
    """Return a client session whose connections reach only what ``policy`` allows.

    IP-literal hosts bypass resolvers, so callers also check each URL with
    :meth:`EgressPolicy.check_url` (the delivery worker does). No proxy from the environment
    is used, and cookies are not kept.
    """
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), use_dns_cache=False)
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 cookie_jar=aiohttp.DummyCookieJar())
