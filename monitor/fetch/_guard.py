"""The address guard: which IPs a fetch may reach, checked where the socket is opened.

A feed or a redirect must not make the daemon talk to its own host, the intranet or a
cloud metadata service. The check runs inside an httpcore network backend that resolves the
name, judges every address and connects to the judged IP, so DNS rebinding has no window.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache

import httpcore

from monitor.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[list[str]]]
AddressPolicy = Callable[[IPAddress], bool]

# Instance metadata services; most sit in ranges refused anyway, named here so they stay
# refused even when a fetch allows private addresses.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::123",
    )
)
_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
MAX_ADDRESSES = 8  # addresses tried per connection, in resolver order


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries: mapped, 6to4, Teredo client or NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def _is_blocked_plain(address: IPAddress) -> bool:
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv4Address) and address in _CARRIER_GRADE_NAT)
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def is_metadata_address(address: IPAddress | str) -> bool:
    """True for cloud metadata endpoints, also when written inside an IPv6 address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ipaddress.IPv6Address(int(ip))  # without any %scope
        inner = _embedded_ipv4(ip)
        if inner is not None and inner in METADATA_ADDRESSES:
            return True
    return ip in METADATA_ADDRESSES


def is_blocked_address(address: IPAddress | str) -> bool:
    """True when a default fetch must not connect to `address`.

    Refuses loopback, private, link-local, carrier-grade NAT, multicast, unspecified,
    reserved and metadata addresses, also when an IPv6 address carries such an IPv4 one.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if is_metadata_address(ip):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and _is_blocked_plain(inner):
            return True
        if ip.ipv4_mapped is not None or any(ip in net for net in _NAT64):
            return False  # only a wrapper: the IPv4 inside is what gets reached
    return _is_blocked_plain(ip)


async def resolve_host(host: str) -> list[str]:
    """The default resolver: the event loop's getaddrinfo, addresses in its order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@lru_cache(maxsize=4096)
def literal_address(host: str) -> IPAddress | None:
    """The address a URL host spells literally (brackets allowed), else None (memoised: the
    same hosts come back every poll)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves with `resolver`, judges each address, then connects to the judged IP.

    httpcore still hands the host name to TLS (SNI and certificate check) and the Host
    header comes from the URL, so only the TCP endpoint is pinned. With `guard` off the
    addresses are only refused when they are metadata endpoints.
    """

    def __init__(
        self, resolver: Resolver, *, guard: bool, is_blocked: AddressPolicy = is_blocked_address
    ) -> None:
        self._resolver = resolver
        self._guard = guard
        self._is_blocked = is_blocked
        self._inner = httpcore.AnyIOBackend()

    async def addresses(self, host: str, timeout: float | None) -> list[IPAddress]:
        """Every address of `host` from the resolver (a literal IP is its own answer)."""
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(timeout):
                answers = await self._resolver(host)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        addresses = []
        for answer in answers:
            ip = literal_address(answer)
            if ip is None:
                raise socket.gaierror(socket.EAI_FAIL, f"resolver gave a non-address {answer!r}")
            addresses.append(ip)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
        return addresses

    def check(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """Refuse the connection when any address of `host` is off limits."""
        for ip in addresses:
            refused = self._is_blocked(ip) if self._guard else is_metadata_address(ip)
            if refused:
                raise FetchError(
                    f"refused to connect to {host} at {ip}: not a public address",
                    kind="blocked-address",
                )

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = (await self.addresses(host, timeout))[:MAX_ADDRESSES]
        self.check(host, addresses)
        failure: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
