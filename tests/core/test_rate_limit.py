"""Token buckets per source, their memory bound, and how the source is told."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from aiohttp.test_utils import make_mocked_request

from dispatcher.http.ratelimit import RateLimit, SourceBuckets, client_address


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_takes_its_burst_then_one_per_refill() -> None:
    clock = Clock()
    buckets = SourceBuckets(6, clock=clock)  # 6 at once, then one every 10 s
    assert [buckets.take("a") for _ in range(6)] == [0.0] * 6
    assert buckets.take("a") == pytest.approx(10.0)
    clock.now += 4
    assert buckets.take("a") == pytest.approx(6.0), "a refused request is not counted"
    clock.now += 6
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(10.0)
    assert buckets.take("b") == 0.0, "each source has its own bucket"


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    clock = Clock()
    buckets = SourceBuckets(3, clock=clock)
    buckets.take("a")
    clock.now += 3600
    assert [buckets.take("a") for _ in range(4)][-1] > 0, "an hour idle still allows 3"


def test_memory_is_bounded_by_dropping_the_least_recently_used() -> None:
    clock = Clock()
    buckets = SourceBuckets(1, max_sources=100, clock=clock)
    buckets.take("kept")
    for number in range(1000):
        buckets.take(f"10.0.{number // 256}.{number % 256}")
        if number % 10 == 0:
            assert buckets.take("kept") > 0  # still remembered: still refused
        assert len(buckets) <= 100
    assert len(buckets) == 100


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "source"),
    [
        ("198.51.100.9", None, "", "198.51.100.9"),
        ("198.51.100.9", "203.0.113.7", "", "198.51.100.9"),  # nobody trusted: ignored
        ("10.0.0.5", "203.0.113.7", "10.0.0.5", "203.0.113.7"),
        ("10.0.0.5", "203.0.113.7", "10.0.0.0/8", "203.0.113.7"),
        ("10.0.0.5", "198.51.100.1, 203.0.113.7", "10.0.0.5", "203.0.113.7"),
        ("10.0.0.5", "203.0.113.7, 10.0.0.9", "10.0.0.0/8", "203.0.113.7"),  # two proxies
        ("10.0.0.5", "203.0.113.7:41234", "10.0.0.5", "203.0.113.7"),
        ("10.0.0.5", "[2001:db8::7]:443", "10.0.0.5", "2001:db8::7"),
        ("10.0.0.5", "unknown", "10.0.0.5", "10.0.0.5"),
        ("10.0.0.5", None, "10.0.0.5", "10.0.0.5"),
        ("10.0.0.6", "203.0.113.7", "10.0.0.5", "10.0.0.6"),  # another peer: not trusted
        ("::ffff:10.0.0.5", "203.0.113.7", "10.0.0.5", "203.0.113.7"),
    ],
)
def test_the_source_is_the_peer_unless_a_trusted_proxy_names_it(
    peer: str, forwarded: str | None, trusted: str, source: str
) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    request = make_mocked_request("GET", "/a/token", headers=headers).clone(remote=peer)
    networks = [ip_network(entry) for entry in trusted.split(",") if entry]
    assert client_address(request, networks) == source


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    clock = Clock()
    limit = RateLimit(600, clock=clock)  # one every 0.1 s once the burst is spent
    request = make_mocked_request("GET", "/a/token").clone(remote="198.51.100.9")
    assert [limit.retry_after(request) for _ in range(600)] == [None] * 600
    assert limit.retry_after(request) == 1
    assert limit.sources == 1
