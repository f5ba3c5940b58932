"""The bare loop's trivial receiver of Twilio's callbacks, in the driver's own process.

A baseline that sends what jiaoying sends must also take what Twilio posts back for it,
on the same event loop and cores, or the ratio would compare a service answering two
reports per SMS with a client that answers none. This receiver reads each callback in
full and answers as jiaoying does (204 for a report, the same TwiML documents for a
call, with the same `<Gather>` actions and replays), and does nothing else: no signature
check, no store. Its work shows in the driver's CPU, the baseline's cost.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Self

from aiohttp import web

from channels.base import Notice
from channels.twilio_http import callback_url
from channels.twilio_sms import STATUS_PATH
from channels.twilio_voice import (
    AMD_PATH,
    CALL_STATUS_PATH,
    GATHER_PATH,
    NO_ANSWER,
    THANKS,
    VOICE_PATH,
    call_twiml,
    ending_twiml,
    replay_twiml,
)
from dispatcher.http.twilio_callbacks import MAX_REPLAYS
from tests.standins.base import free_socket

__all__ = ["Receiver"]

_ACTION = "https://action.invalid/"


class Receiver:
    """`async with Receiver(text) as receiver`: `receiver.url` takes Twilio's callbacks;
    `received` counts them by path. `text` is what a call reads out."""

    def __init__(self, text: str) -> None:
        notice = Notice(key="k", channel="voice", kind="alert", address="+8613800000000", text=text)
        # Built once, the action put in per request: the least a receiver can do.
        self._voice = str(call_twiml(notice, _ACTION))
        self._replay = str(replay_twiml(_ACTION))
        self._thanks = str(ending_twiml(THANKS))
        self._no_answer = str(ending_twiml(NO_ANSWER))
        self.received: Counter[str] = Counter()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        app = web.Application()
        for path in (STATUS_PATH, CALL_STATUS_PATH, AMD_PATH):
            app.router.add_post(path, self._report)
        app.router.add_post(VOICE_PATH, self._voice_fetch)
        app.router.add_post(GATHER_PATH, self._gather)
        sock = free_socket()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.url = "http://{}:{}".format(*sock.getsockname()[:2])
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def total(self) -> int:
        return sum(self.received.values())

    async def _report(self, request: web.Request) -> web.Response:
        await request.post()
        self.received[request.path] += 1
        return web.Response(status=204)

    async def _voice_fetch(self, request: web.Request) -> web.Response:
        await request.post()
        self.received[request.path] += 1
        action = self._action(GATHER_PATH, request, 0)
        return _twiml(self._voice.replace(_ACTION, action))

    async def _gather(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.received[request.path] += 1
        if form.get("Digits") == "1":
            return _twiml(self._thanks)
        replay = int(request.query.get("replay", "0"))
        if replay >= MAX_REPLAYS:
            return _twiml(self._no_answer)
        return _twiml(self._replay.replace(_ACTION, self._action(VOICE_PATH, request, 1)))

    def _action(self, path: str, request: web.Request, more: int) -> str:
        url = callback_url(self.url, path, request.query.get("key", ""))
        replay = int(request.query.get("replay", "0")) + more
        return f"{url}&amp;replay={replay}" if replay else url


def _twiml(document: str) -> web.Response:
    return web.Response(text=document, content_type="text/xml", charset="utf-8")
