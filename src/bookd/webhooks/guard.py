"""Where webhooks may go: http(s) only, and by default no loopback, private, link-local, multicast or
reserved address (cloud metadata services live at link-local 169.254.169.254).

An IPv6 address that carries an IPv4 address inside it (IPv4-mapped, -compatible and -translated,
NAT64, 6to4, Teredo) leads to that IPv4 address, through the host's own stack or a translator or relay on
the way: it is judged by the IPv4 address (both of Teredo's) and not by its own IPv6 ranges, which
Python's `ipaddress` mostly counts as global.

The address is checked as resolved: at trigger creation, and at every connection a send opens,
where the connection goes to the very address that was checked (`client.GuardedResolver`). A name
that later resolves somewhere private, or answers differently on a second lookup (DNS rebinding),
cannot sneak a request past the check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# NAT64 (RFC 6052, RFC 8215): the IPv4 address is the last 32 bits, the form DNS64 hands out.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# IPv4-compatible (RFC 4291, deprecated): ::a.b.c.d, which the stack may still route as IPv4;
# IPv4-translated (RFC 2765, SIIT): ::ffff:0:a.b.c.d.
_LAST_32_BITS = (*_NAT64, ipaddress.IPv6Network("::/96"), ipaddress.IPv6Network("::ffff:0:0:0/96"))


class UnsafeURL(ValueError):
    """The URL is not one bookd will send to."""


@dataclass(frozen=True)
class Guard:
    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_setting(cls, allow_private: bool, allow_list: str) -> Guard:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in (part.strip() for part in allow_list.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower())
        return cls(allow_private, frozenset(hosts), tuple(networks))

    def split(self, url: str) -> tuple[str, int]:
        """The host and port of an acceptable URL, or UnsafeURL."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UnsafeURL(f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise UnsafeURL("only http and https URLs are allowed")
        if not parts.hostname:
            raise UnsafeURL("the URL has no host")
        if parts.username or parts.password:
            raise UnsafeURL(
                "credentials in the URL are not allowed; use the signature to authenticate"
            )
        return parts.hostname, port or (443 if parts.scheme == "https" else 80)

    def address_allowed(self, host: str, address: IPAddress) -> bool:
        if self.allow_private or host.lower() in self.allowed_hosts:
            return True
        return self._allowed(address)

    def _allowed(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allowed_networks):
            return True
        inside = embedded_ipv4(address)
        if inside:
            return all(self._allowed(ipv4) for ipv4 in inside)
        return address.is_global and not address.is_multicast

    async def check(self, url: str) -> None:
        """Refuse the URL unless every address its host resolves to is allowed."""
        await self.resolve(*self.split(url))

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for `host`, once every one of them is allowed."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            # UnicodeError: a name the resolver cannot encode (an empty label, one over 63 chars).
            raise UnsafeURL(f"the host {host!r} does not resolve") from None
        addresses = [str(info[4][0]).split("%")[0] for info in infos]
        for address in addresses:
            if not self.address_allowed(host, ipaddress.ip_address(address)):
                raise UnsafeURL(
                    f"{host} resolves to {address}, a private, loopback or reserved address"
                    " (set BOOKD_WEBHOOK_ALLOW_PRIVATE or BOOKD_WEBHOOK_ALLOW_HOSTS to allow it)"
                )
        if not addresses:
            raise UnsafeURL(f"the host {host!r} does not resolve")
        return addresses


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (none for a plain one): what it is judged by."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        server, client = address.teredo  # the client's address is stored inverted
        return [server, client]
    if any(address in network for network in _LAST_32_BITS):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []
