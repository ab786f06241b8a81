"""The address guard: the classifier as a table, then refusals end to end and TLS pinning."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable

import pytest
import trustme

from monitor.errors import FetchError
from monitor.fetch import Fetcher, FetchOptions, is_blocked_address, is_metadata_address
from monitor.models import Fetched
from tests.fetch.conftest import FetchOne, ScriptedServer, resolver_for, run

BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "100.100.100.200",  # Alibaba metadata, inside CGNAT
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",  # multicast, which is_global misses
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.10",  # TEST-NET-1
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd12:3456::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fec0::1",  # deprecated site-local
    "ff02::1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "2002:a9fe:a9fe::1",  # 6to4 around 169.254.169.254
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
    "64:ff9b:1::a00:1",  # local-use NAT64 around 10.0.0.1
    "2001:db8::1",  # documentation
]
ALLOWED = [
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "151.101.1.69",
    "2606:4700::6810:84e5",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # mapped, but public inside
    "2002:808:808::1",  # 6to4 around 8.8.8.8
    "64:ff9b::808:808",  # NAT64 around 8.8.8.8
]


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_addresses(address: str) -> None:
    assert is_blocked_address(address)
    assert is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses(address: str) -> None:
    assert not is_blocked_address(address)


@pytest.mark.parametrize(
    ("address", "metadata"),
    [
        ("169.254.169.254", True),
        ("::ffff:169.254.169.254", True),
        ("64:ff9b::a9fe:a9fe", True),
        ("fd00:ec2::254", True),
        ("169.254.170.2", True),
        ("169.254.1.1", False),
        ("10.0.0.1", False),
        ("8.8.8.8", False),
    ],
)
def test_metadata_addresses(address: str, metadata: bool) -> None:
    assert is_metadata_address(address) is metadata


# --- end to end: the guard is on (allow_private=False) -------------------------------------------

GUARDED = FetchOptions()


def refusal(call: Callable[[], object]) -> FetchError:
    with pytest.raises(FetchError) as caught:
        call()
    assert caught.value.kind == "blocked-address"
    return caught.value


def test_name_resolving_to_loopback_is_refused(server: ScriptedServer, fetch_one: FetchOne) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>")
    resolver = resolver_for({"news.test": ["127.0.0.1"]})
    error = refusal(lambda: fetch_one(server.url("/feed", "news.test"), GUARDED, resolver))
    assert "127.0.0.1" in str(error)
    assert error.subject == server.url("/feed", "news.test")
    assert server.connections == 0


def test_name_resolving_to_metadata_is_refused(fetch_one: FetchOne) -> None:
    resolver = resolver_for({"meta.test": ["169.254.169.254"]})
    refusal(lambda: fetch_one("http://meta.test/latest/meta-data/", GUARDED, resolver))


def test_any_blocked_answer_refuses_the_name(fetch_one: FetchOne) -> None:
    resolver = resolver_for({"mixed.test": ["8.8.8.8", "10.0.0.7"]})
    refusal(lambda: fetch_one("http://mixed.test/feed", GUARDED, resolver))


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "[::ffff:a9fe:a9fe]"]
)
def test_literal_addresses_are_refused(
    server: ScriptedServer, fetch_one: FetchOne, host: str
) -> None:
    refusal(lambda: fetch_one(f"http://{host}:{server.port}/feed", GUARDED))
    assert server.connections == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x/"])
def test_other_schemes_are_refused(fetch_one: FetchOne, url: str) -> None:
    refusal(lambda: fetch_one(url, GUARDED))


def only_loopback_one_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """The policy under test, except that 127.0.0.1 plays a public web server."""
    return address != ipaddress.IPv4Address("127.0.0.1") and is_blocked_address(address)


def guarded_fetch(url: str, resolver: Callable[..., object], **kwargs: object) -> Fetched:
    async def go() -> Fetched:
        async with Fetcher(
            GUARDED,
            resolver=resolver,  # type: ignore[arg-type]
            is_blocked=only_loopback_one_is_public,
        ) as fetcher:
            return await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]

    return run(go())


@pytest.mark.parametrize(
    "target",
    [
        "http://internal.test:{port}/feed",  # resolves to 127.0.0.2, a blocked address
        "http://127.0.0.2:{port}/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[::1]:{port}/feed",
    ],
)
def test_redirect_to_a_blocked_address_is_refused(server: ScriptedServer, target: str) -> None:
    location = target.format(port=server.port)
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>")
    server.scripts["/moved"] = lambda ex: ex.reply(302, headers={"Location": location})
    resolver = resolver_for({"news.test": ["127.0.0.1"], "internal.test": ["127.0.0.2"]})
    # the public-looking name itself is fetched: the hook makes 127.0.0.1 count as public
    assert guarded_fetch(server.url("/feed", "news.test"), resolver).status == 200
    refusal(lambda: guarded_fetch(server.url("/moved", "news.test"), resolver))
    assert [seen.path for seen in server.requests] == ["/feed", "/moved"]


def test_the_checked_answer_is_the_connected_one(server: ScriptedServer) -> None:
    """DNS rebinding: a second lookup could answer 169.254.169.254; there must be none."""
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>")
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    lookups = []

    async def rebinding(host: str) -> list[str]:
        lookups.append(host)
        return next(answers)

    assert guarded_fetch(server.url("/feed", "news.test"), rebinding).status == 200
    assert lookups == ["news.test"]
    assert server.requests[0].host == "news.test"  # Host header keeps the name


def test_allow_private_per_call_and_option(server: ScriptedServer) -> None:
    server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>")
    resolver = resolver_for({"intranet.test": ["127.0.0.1"], "meta.test": ["169.254.169.254"]})

    async def scenario() -> tuple[Fetched, FetchError | None, FetchError | None]:
        async with Fetcher(GUARDED, resolver=resolver) as fetcher:
            allowed = await fetcher.fetch(server.url("/feed", "intranet.test"), allow_private=True)
            refused = metadata = None
            try:
                await fetcher.fetch(server.url("/feed", "intranet.test"))
            except FetchError as exc:
                refused = exc
            try:  # metadata stays refused even for intranet feeds
                await fetcher.fetch("http://meta.test/latest/", allow_private=True)
            except FetchError as exc:
                metadata = exc
            return allowed, refused, metadata

    allowed, refused, metadata = run(scenario())
    assert allowed.status == 200
    assert refused is not None
    assert refused.kind == "blocked-address"
    assert metadata is not None
    assert metadata.kind == "blocked-address"


# --- TLS: the connection goes to the checked IP, SNI and the certificate check use the name ------


def test_tls_to_a_pinned_address_verifies_the_name(
    tls_server: ScriptedServer, ca: trustme.CA
) -> None:
    tls_server.scripts["/feed"] = lambda ex: ex.reply(200, b"<rss/>")
    resolver = resolver_for({"news.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    context = ssl.create_default_context()
    ca.configure_trust(context)

    async def scenario() -> tuple[Fetched, FetchError | None]:
        options = FetchOptions(allow_private=True)
        async with Fetcher(options, resolver=resolver, ssl_context=context) as fetcher:
            good = await fetcher.fetch(tls_server.url("/feed", "news.test"))
            try:  # same IP, but the certificate does not name other.test
                await fetcher.fetch(tls_server.url("/feed", "other.test"))
            except FetchError as exc:
                return good, exc
            return good, None

    good, bad = run(scenario())
    assert (good.status, good.body) == (200, b"<rss/>")
    assert bad is not None
    assert bad.kind == "tls"


def test_untrusted_certificate_is_a_tls_error(
    tls_server: ScriptedServer, fetch_one: FetchOne
) -> None:
    resolver = resolver_for({"news.test": ["127.0.0.1"]})
    with pytest.raises(FetchError) as caught:
        fetch_one(tls_server.url("/feed", "news.test"), resolver=resolver)
    assert caught.value.kind == "tls"
