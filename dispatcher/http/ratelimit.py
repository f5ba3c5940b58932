"""Per-source rate limits for the public answer endpoints (`GET|POST /a/{token}`).

Each source has a token bucket: `per_minute` requests at once, refilled at `per_minute`
a minute. A request finding the bucket empty gets 429 with `Retry-After` (seconds until
its next request would be taken). At most `max_sources` buckets are kept, the least
recently used dropped first, so an attacker rotating addresses cannot grow the memory
without end; a dropped source starts again with a full bucket, as a new one would.

A source is the client's address: `request.remote`, the peer of the TCP connection.
Behind a reverse proxy that peer is the proxy, so when it is one of
`JIAOYING_TRUSTED_PROXIES` the client is read from `X-Forwarded-For` instead: the
nearest hop that is not itself a trusted proxy, walking the header from the right.
With a proxy that overwrites the header that is its first and only hop; with one that
appends to it, the entries to the left of the proxy's own were written by the client,
who could otherwise pick a new "address" for every request. An IPv6 client is counted
by its /64, the block one subscriber is given. The buckets are per process: behind a
load balancer, N replicas allow N times the rate.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web

__all__ = ["MAX_SOURCES", "Network", "RateLimit", "SourceBuckets", "client_address"]

MAX_SOURCES = 10_000
_IPV6_SUBSCRIBER = 64

Network = IPv4Network | IPv6Network


class SourceBuckets:
    """A token bucket per source, `per_minute` deep and refilled at `per_minute`/60 a
    second; at most `max_sources` of them, least recently used dropped first."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_sources: int = MAX_SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1 or max_sources < 1:
            raise ValueError("per_minute and max_sources must be at least 1")
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60.0
        self._max_sources = max_sources
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, source: str) -> float:
        """Count one request of `source`: 0.0 when it is taken, else how many seconds
        until one would be (the request is then not counted)."""
        now = self._clock()
        held = self._buckets.pop(source, None)
        tokens = self._capacity
        if held is not None:
            tokens = min(self._capacity, held[0] + max(0.0, now - held[1]) * self._per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._per_second
        self._buckets[source] = (tokens, now)
        while len(self._buckets) > self._max_sources:
            self._buckets.popitem(last=False)
        return wait


class RateLimit:
    """`per_minute` requests per client address (see `client_address`)."""

    def __init__(
        self,
        per_minute: int,
        trusted_proxies: Sequence[Network] = (),
        *,
        max_sources: int = MAX_SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self._trusted = tuple(trusted_proxies)
        self._buckets = SourceBuckets(per_minute, max_sources=max_sources, clock=clock)

    @property
    def sources(self) -> int:
        """How many sources are remembered now."""
        return len(self._buckets)

    def retry_after(self, request: web.Request) -> int | None:
        """None when `request` is within its source's rate; else whole seconds to wait."""
        wait = self._buckets.take(_bucket_key(client_address(request, self._trusted)))
        return None if wait <= 0.0 else max(1, math.ceil(wait))


def client_address(request: web.Request, trusted_proxies: Sequence[Network]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    `X-Forwarded-For` hop that is not a trusted proxy (see the module doc)."""
    peer = request.remote or ""
    if not _is_trusted(_address(peer), trusted_proxies):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # not written by a proxy we trust: the header is no use from here
        if not _is_trusted(address, trusted_proxies):
            return str(address)
    return peer


def _is_trusted(address: IPv4Address | IPv6Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    """An address as proxies write it: bare, `v4:port` or `[v6]:port`; None if none."""
    candidate = text.strip()
    if candidate.startswith("["):
        candidate = candidate[1:].partition("]")[0]
    elif candidate.count(":") == 1:
        candidate = candidate.partition(":")[0]
    try:
        address = ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _bucket_key(source: str) -> str:
    address = _address(source)
    if address is None:
        return source
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, _IPV6_SUBSCRIBER), strict=False))
    return str(address)
