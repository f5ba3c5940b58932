"""Providers failing, throttling, resetting and stalling, through their stand-ins.

`jiaoying serve` sends SMS and calls through the Twilio stand-in and template messages
through the WeChat stand-in, to 60 grid persons on three channels at once (180 notices).
Each case switches on one fault mode and holds the service to its promises: every notice
ends sent or failed with a reason, no notice is tried more than the retry policy allows
(4 requests), a `Retry-After` is waited out, the process does not spin while it waits,
and a channel that keeps failing never holds up the others.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.integration.conftest import bounded
from tests.reliability.harness import (
    Api,
    Serve,
    eventually,
    figures,
    prepare_store,
    query,
    serve_env,
    twilio_env,
    village,
    warning_json,
)
from tests.rosters import County, write_county
from tests.standins.base import Recorded
from tests.standins.twilio import TwilioStandIn
from tests.standins.wechat import WeChatStandIn

PER_VILLAGE = 20
VILLAGES = 3
PERSONS = PER_VILLAGE * VILLAGES
CHANNELS = ("voice", "sms", "wechat")
MAX_REQUESTS = 4  # the sender's retry policy: attempts per notice
POLICY = """
red: {answer_within: 1h, steps: [{after: 0s, notify: [voice, sms, wechat]}]}
orange: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
"""


@dataclass
class Providers:
    serve: Serve
    api: Api
    county: County
    twilio: TwilioStandIn
    wechat: WeChatStandIn

    async def post_warning(self, persons_villages: int = VILLAGES) -> str:
        codes = [village(v) for v in range(persons_villages)]
        status, answer = await self.api.post("/v1/warnings", warning_json("faults-1", codes))
        assert status == 202, answer
        return str(answer["id"])

    def requests(self) -> dict[str, list[float]]:
        """Notice key → when each provider request for it arrived (monotonic seconds)."""
        by_key: dict[str, list[float]] = defaultdict(list)
        for recorded in self.twilio.requests:
            by_key[_twilio_key(recorded)].append(recorded.at)
        for recorded in self.wechat.requests:
            if recorded.path.endswith("/template/send"):
                by_key[str(recorded.json()["client_msg_id"])].append(recorded.at)
        return by_key

    def reached(self, channel: str) -> set[str]:
        if channel == "sms":
            return {message.to for message in self.twilio.messages.values()}
        if channel == "voice":
            return {call.to for call in self.twilio.calls.values()}
        return {message["touser"] for message in self.wechat.messages}


def _twilio_key(recorded: Recorded) -> str:
    callback = recorded.one("StatusCallback") or ""
    return parse_qs(urlsplit(callback).query)["key"][0]


@pytest.fixture
async def providers(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Providers]:
    county = write_county(tmp_path / "roster", PERSONS, per_village=PER_VILLAGE, wechat=True)
    window = getattr(request, "param", 256)
    async with (
        TwilioStandIn(seed=7) as twilio,
        WeChatStandIn() as wechat,
        aiohttp.ClientSession() as http,
    ):
        wechat.error_rate = 0.0
        extra = {
            **twilio_env(twilio),
            "JIAOYING_WECHAT_APPID": wechat.appid,
            "JIAOYING_WECHAT_SECRET": wechat.appsecret,
            "JIAOYING_WECHAT_TEMPLATE_ID": "tpl-warning-1",
            "JIAOYING_WECHAT_TOKEN": wechat.token,
            "JIAOYING_WECHAT_API_BASE": wechat.url,
            "JIAOYING_SEND_WINDOW": str(window),
        }
        env = serve_env(tmp_path, roster=county.directory, policy=POLICY, extra=extra)
        serve = Serve(env, tmp_path / "serve.log")
        await prepare_store(serve.db_url)
        serve.start()
        try:
            await serve.until_ready(http)
            yield Providers(serve, Api(http, serve.url), county, twilio, wechat)
        finally:
            await serve.terminate()


async def _settled(db_url: str, expected: int) -> dict[str, int] | None:
    """Attempts by status once all `expected` have an outcome (none still claimed)."""
    rows = await query(db_url, "select status, count(*) from attempts group by status")
    counts = {row[0]: int(row[1]) for row in rows}
    if sum(counts.values()) < expected or counts.get("claimed", 0):
        return None
    return counts


async def _outcomes(db_url: str) -> list[tuple[str, str, str | None]]:
    rows = await query(db_url, "select channel, status, error_reason from attempts")
    return [(row.channel, row.status, row.error_reason) for row in rows]


def _check_outcomes(outcomes: list[tuple[str, str, str | None]]) -> dict[str, int]:
    """Every notice sent, or failed with a reason; returns failures by reason."""
    failures: dict[str, int] = defaultdict(int)
    for channel, status, reason in outcomes:
        assert status in ("sent", "delivered", "failed", "rejected"), (channel, status)
        if status in ("failed", "rejected"):
            assert reason, f"a {channel} notice failed without a reason"
            failures[f"{channel}:{reason}"] += 1
    return dict(failures)


@bounded(60)
async def test_thirty_percent_server_errors(providers: Providers) -> None:
    providers.twilio.error_rate = 0.3
    providers.wechat.error_rate = 0.3
    started = time.monotonic()
    await providers.post_warning()
    counts = await eventually(
        lambda: _settled(providers.serve.db_url, PERSONS * 3), 45, "notices settled"
    )
    settled_after = time.monotonic() - started
    outcomes = await _outcomes(providers.serve.db_url)
    failures = _check_outcomes(outcomes)
    requests = providers.requests()
    per_notice = [len(times) for times in requests.values()]
    figures(
        "provider faults: 30 % HTTP 500",
        notices=len(outcomes),
        provider_requests=sum(per_notice),
        notices_retried=sum(1 for n in per_notice if n > 1),
        most_requests_for_one_notice=max(per_notice),
        outcomes=counts,
        failed_by_reason=failures,
        settled_after_s=round(settled_after, 2),
    )
    assert len(requests) == PERSONS * 3, "every notice was tried"
    assert max(per_notice) <= MAX_REQUESTS, "retries are bounded"
    assert set(failures) <= {f"{c}:server_error" for c in CHANNELS}
    # Each accepted notice reached its person once: a retry never follows a success.
    assert len(providers.twilio.messages) + len(providers.twilio.calls) + len(
        providers.wechat.messages
    ) == counts.get("sent", 0) + counts.get("delivered", 0)


@bounded(60)
async def test_throttled_with_retry_after(providers: Providers) -> None:
    """Every request is refused with 429 and `Retry-After: 3` for five seconds."""
    providers.twilio.rate_limit = 0
    providers.twilio.rate_limit_retry_after = 3
    started = time.monotonic()
    await providers.post_warning()
    await eventually(lambda: len(providers.twilio.requests) >= PERSONS * 2, 5, "first tries")
    await asyncio.sleep(0.5)
    before, watched_from = providers.serve.usage(), time.monotonic()
    await asyncio.sleep(2.0)
    during, watched = providers.serve.usage(), time.monotonic() - watched_from
    await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - started)))
    providers.twilio.rate_limit = None
    counts = await eventually(
        lambda: _settled(providers.serve.db_url, PERSONS * 3), 30, "notices settled"
    )
    settled_after = time.monotonic() - started
    failures = _check_outcomes(await _outcomes(providers.serve.db_url))
    twilio_keys = {_twilio_key(r) for r in providers.twilio.requests}
    gaps = [
        later - earlier
        for key, times in providers.requests().items()
        if key in twilio_keys
        for earlier, later in itertools.pairwise(times)
    ]
    cpu = during.cpu - before.cpu
    figures(
        "provider faults: HTTP 429, Retry-After 3 s",
        notices=PERSONS * 3,
        twilio_requests=len(providers.twilio.requests),
        shortest_gap_between_tries_s=round(min(gaps), 2),
        cpu_while_waiting_s=round(cpu, 3),
        watched_s=round(watched, 2),
        outcomes=counts,
        failed_by_reason=failures,
        settled_after_s=round(settled_after, 2),
    )
    assert gaps and min(gaps) >= 2.9, "Retry-After was honoured"
    assert not failures, "throttling for a few seconds costs no notice"
    assert cpu < 0.1 * watched, "no busy loop while waiting out Retry-After"


@bounded(60)
async def test_connections_reset(providers: Providers) -> None:
    """The providers drop every connection for two seconds, then recover."""
    providers.twilio.reset_connections = True
    providers.wechat.reset_connections = True
    started = time.monotonic()
    await providers.post_warning()
    await asyncio.sleep(2.0)
    providers.twilio.reset_connections = False
    providers.wechat.reset_connections = False
    counts = await eventually(
        lambda: _settled(providers.serve.db_url, PERSONS * 3), 45, "notices settled"
    )
    settled_after = time.monotonic() - started
    failures = _check_outcomes(await _outcomes(providers.serve.db_url))
    per_notice = [len(times) for times in providers.requests().values()]
    figures(
        "provider faults: connection resets for 2 s",
        notices=PERSONS * 3,
        provider_requests=sum(per_notice),
        most_requests_for_one_notice=max(per_notice),
        outcomes=counts,
        failed_by_reason=failures,
        settled_after_s=round(settled_after, 2),
    )
    assert max(per_notice) <= MAX_REQUESTS, "retries are bounded"
    assert set(failures) <= {f"{c}:connection" for c in CHANNELS}
    for channel in CHANNELS:
        assert providers.reached(channel), f"{channel} recovered after the resets"


@bounded(60)
async def test_ten_second_stalls(providers: Providers) -> None:
    """The first 30 Twilio requests and 30 WeChat sends get no answer for 10 s."""
    for _ in range(30):
        providers.twilio.stall_next(10)
        providers.wechat.stall_next(10)
    started = time.monotonic()
    await providers.post_warning()
    await eventually(
        lambda: len(providers.reached("sms") | providers.reached("voice")) > 0, 10, "sends"
    )
    await asyncio.sleep(2.0)
    before, watched_from = providers.serve.usage(), time.monotonic()
    await asyncio.sleep(5.0)
    during, watched = providers.serve.usage(), time.monotonic() - watched_from
    counts = await eventually(
        lambda: _settled(providers.serve.db_url, PERSONS * 3), 45, "notices settled"
    )
    settled_after = time.monotonic() - started
    failures = _check_outcomes(await _outcomes(providers.serve.db_url))
    per_notice = [len(times) for times in providers.requests().values()]
    cpu = during.cpu - before.cpu
    figures(
        "provider faults: 10 s stalls",
        notices=PERSONS * 3,
        stalled_requests=60,
        provider_requests=sum(per_notice),
        most_requests_for_one_notice=max(per_notice),
        cpu_while_stalled_s=round(cpu, 3),
        watched_s=round(watched, 2),
        outcomes=counts,
        failed_by_reason=failures,
        settled_after_s=round(settled_after, 2),
    )
    assert max(per_notice) <= MAX_REQUESTS, "retries are bounded"
    assert set(failures) <= {f"{c}:timeout" for c in CHANNELS}
    assert cpu < 0.1 * watched, "no busy loop while requests stall"


BROKEN_WINDOW = 48  # smaller than the WeChat sends of one fan-out (60)


@pytest.mark.parametrize("providers", [BROKEN_WINDOW], indirect=True)
@pytest.mark.parametrize("broken", ["stalls past its timeout", "refuses every send"])
@bounded(60)
async def test_a_broken_channel_never_holds_up_the_others(
    providers: Providers, broken: str
) -> None:
    """WeChat is down; SMS and calls go out all the same, and WeChat's notices end failed.

    A provider that refuses answers at once, and each of its notices gives up within the
    retry policy's backoff (3.5 s at most). One that takes requests and never answers
    would hold every try for the whole request timeout (10 s, four tries): after five
    timeouts in a row its breaker fails its sends at once (dispatcher.engine.breaker), so the
    others are held up by about one timeout.
    """
    if broken == "refuses every send":
        providers.wechat.error_rate = 1.0
        reason, bound = "server_error", 8.0
    else:
        for _ in range(2000):
            providers.wechat.stall_next(30)
        reason, bound = "timeout", 20.0
    started = time.monotonic()
    await providers.post_warning()
    everyone = set(providers.county.grid_phones)
    await eventually(
        lambda: providers.reached("sms") >= everyone and providers.reached("voice") >= everyone,
        bound,
        lambda: (
            f"SMS {len(providers.reached('sms'))}/{PERSONS}, "
            f"calls {len(providers.reached('voice'))}/{PERSONS} while WeChat {broken}"
        ),
    )
    others_after = time.monotonic() - started
    counts = await eventually(
        lambda: _settled(providers.serve.db_url, PERSONS * 3), 30, "notices settled"
    )
    settled_after = time.monotonic() - started
    failures = _check_outcomes(await _outcomes(providers.serve.db_url))
    figures(
        f"provider faults: WeChat {broken}",
        persons=PERSONS,
        window=BROKEN_WINDOW,
        sms_and_calls_to_everyone_after_s=round(others_after, 2),
        wechat_requests=sum(1 for r in providers.wechat.requests if "template" in r.path),
        outcomes=counts,
        failed_by_reason=failures,
        settled_after_s=round(settled_after, 2),
    )
    assert failures == {f"wechat:{reason}": PERSONS}, "WeChat's notices end failed, with why"
