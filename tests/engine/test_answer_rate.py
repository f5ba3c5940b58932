"""The answer page is rate-limited per client address, behind a trusted proxy too.

The service runs with `JIAOYING_ANSWER_RATE=5` and the test client's own address
(127.0.0.1) as the trusted proxy, so each request's `X-Forwarded-For` names the source.
"""

from __future__ import annotations

import pytest

from tests.engine.conftest import PUBLIC_URL, Jiaoying, eventually

RATE = 5


@pytest.fixture
def extra_settings() -> dict[str, str]:
    return {"JIAOYING_ANSWER_RATE": str(RATE), "JIAOYING_TRUSTED_PROXIES": "127.0.0.1"}


async def _answers(jiaoying: Jiaoying) -> int:
    return len(await jiaoying.rows("select id from answers"))


async def test_a_source_past_its_rate_gets_429_and_others_are_served(
    jiaoying: Jiaoying,
) -> None:
    await jiaoying.post("red-rainstorm.xml")
    notice = (await eventually(lambda: jiaoying.sent("sms", "alert")))[0]
    assert notice.answer_url is not None
    path = notice.answer_url.removeprefix(PUBLIC_URL)
    crawler = {"X-Forwarded-For": "203.0.113.7"}

    for _ in range(RATE):
        assert (await jiaoying.client.get(path, headers=crawler)).status == 200
    limited = await jiaoying.client.get(path, headers=crawler)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) == 60 // RATE  # one request per 12 s
    assert "请求太频繁" in await limited.text()

    # Past the rate even a genuine press is refused, before the token is looked at.
    pressed = await jiaoying.client.post(path, headers=crawler)
    assert pressed.status == 429
    assert await _answers(jiaoying) == 0

    # The proxy appends the peer it saw: a made-up hop written by the client to its left
    # is not taken for the source.
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert (await jiaoying.client.post(path, headers=spoofed)).status == 429

    # Another source has a bucket of its own; its press answers.
    person = {"X-Forwarded-For": "203.0.113.8"}
    assert (await jiaoying.client.post(path, headers=person)).status == 200
    assert await _answers(jiaoying) == 1


async def test_an_ipv6_subscriber_is_one_source_per_64(jiaoying: Jiaoying) -> None:
    path = "/a/not-a-token"
    for host in range(1, RATE + 1):
        forwarded = {"X-Forwarded-For": f"2001:db8:0:7::{host}"}
        assert (await jiaoying.client.get(path, headers=forwarded)).status == 403
    same_block = {"X-Forwarded-For": "2001:db8:0:7::ffff"}
    assert (await jiaoying.client.get(path, headers=same_block)).status == 429
    other_block = {"X-Forwarded-For": "2001:db8:0:8::1"}
    assert (await jiaoying.client.get(path, headers=other_block)).status == 403
