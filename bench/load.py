"""Closed-loop HTTP load: POST prepared requests with a fixed concurrency, as fast as the
server takes them. The same loop posts the answers to the service and every baseline.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from bench.procs import TWILIO_FROM, StandIn
from channels.base import DeliveryError, Notice
from channels.twilio_http import TwilioApi, callback_url
from channels.twilio_sms import STATUS_PATH, TwilioSms


@dataclass(frozen=True, slots=True)
class Prepared:
    """One POST: body and headers, ready to send."""

    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LoadResult:
    seconds: float
    statuses: Counter[int]
    cpu: float = 0.0  # the driver's CPU seconds meanwhile: the client's own cost

    @property
    def count(self) -> int:
        return sum(self.statuses.values())

    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


async def post_all(
    url: str,
    requests: Sequence[Prepared | Mapping[str, str] | Sequence[tuple[str, str]]],
    concurrency: int,
    *,
    headers: Mapping[str, str] | None = None,
    settled: Settled | None = None,
) -> LoadResult:
    """POST every request to `url` over at most `concurrency` connections; each response is
    read in full (JSON parsed when it is JSON, as a client that wants the id would).

    A request is a `Prepared` body, or a form (a mapping, or pairs for a field given more
    than once) that is encoded as it goes out (what any client, jiaoying's included, pays
    for on every request), sent with `headers`."""
    statuses: Counter[int] = Counter()
    pending = iter(requests)
    target = URL(url, encoded=True)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for request in pending:
                if isinstance(request, Prepared):
                    body, sent = request.body, request.headers
                else:
                    body, sent = urlencode(request).encode(), headers or {}
                async with http.post(target, data=body, headers=sent) as reply:
                    if reply.content_type == "application/json":
                        await reply.json()
                    else:
                        await reply.read()
                    statuses[reply.status] += 1

        return await _closed_loop(worker, concurrency, statuses)


Settled = Callable[[], Awaitable[None]]


async def _closed_loop(
    worker: Callable[[], Awaitable[None]],
    concurrency: int,
    statuses: Counter[int],
    settled: Settled | None = None,
) -> LoadResult:
    """Run `concurrency` copies of `worker` until they have taken every item; the wall
    time, and the driver's CPU time meanwhile and until `settled` returns (the callbacks
    of the last requests taken, as the service's CPU counts them)."""
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    if settled is not None:
        await settled()
    return LoadResult(seconds, statuses, time.process_time() - cpu)


async def sms_baseline(
    standin: StandIn,
    phones: Sequence[str],
    text: str,
    callbacks_url: str,
    concurrency: int,
    settled: Settled | None = None,
) -> LoadResult:
    """The fastest plain client: the Messages POSTs jiaoying makes (same fields, same text,
    Basic auth), straight from an aiohttp loop to the same stand-in; its status callbacks
    go to `callbacks_url` (the driver's `Receiver`), CPU counted until `settled`."""
    credentials = base64.b64encode(f"{standin.account_sid}:{standin.auth_token}".encode()).decode()
    headers = {
        "Authorization": f"Basic {credentials}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    forms = [
        {
            "To": phone,
            "From": TWILIO_FROM,
            "Body": text,
            "StatusCallback": callback_url(callbacks_url, STATUS_PATH, f"{n}:sms:c0s0"),
            "ValidityPeriod": "600",
        }
        for n, phone in enumerate(phones)
    ]
    url = f"{standin.url}/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
    return await post_all(url, forms, concurrency, headers=headers, settled=settled)


async def channel_baseline(
    standin: StandIn,
    phones: Sequence[str],
    text: str,
    callbacks_url: str,
    concurrency: int,
    settled: Settled | None = None,
) -> LoadResult:
    """jiaoying's SMS channel alone, without the engine: `TwilioSms.send` (the Twilio SDK
    over the same HTTP client the service uses) for the same numbers and text, with the
    same concurrency, from the driver. What one process gets from the send path the
    service must take, so the engine's own share can be told from the SDK's."""
    api = TwilioApi(standin.account_sid, standin.auth_token, api_base=standin.url)
    channel = TwilioSms(api, from_=TWILIO_FROM, public_url=callbacks_url)
    notices = iter(
        Notice(key=f"{n}:sms:c0s0", channel="sms", kind="alert", address=phone, text=text)
        for n, phone in enumerate(phones)
    )
    statuses: Counter[int] = Counter()

    async def worker() -> None:
        for notice in notices:
            try:
                await channel.send(notice)
                statuses[201] += 1
            except DeliveryError:
                statuses[0] += 1

    try:
        return await _closed_loop(worker, concurrency, statuses, settled)
    finally:
        await api.close()
