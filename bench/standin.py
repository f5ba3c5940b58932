"""The benchmark's Twilio stand-in, run as its own process: `python -m bench.standin --port N`.

It is the test stand-in (`tests.standins.twilio.TwilioStandIn`), same routes, same Basic
auth check, same validation and the same 201 Message JSON, with three changes for load:

- a Messages request is parsed once and kept as (arrival time, To) only, instead of the
  full request log the tests inspect; the sid is a counter, not 32 random draws;
- it can answer a share of the SMS it takes, as the persons would: a signed inbound SMS
  ("1") from the recipient's number to jiaoying's `/callbacks/twilio/sms`, after a delay;
- `POST /baseline/sms` is the trivial handler the answers baseline posts to: it reads the
  request and returns the empty TwiML jiaoying answers with;
- `POST /baseline/signed` is the least an authenticated webhook costs: it parses the form
  and checks its Twilio signature (the SDK's `RequestValidator`, as jiaoying does against
  the URL the driver signed), stores nothing and returns the same TwiML, or 403.

The driver drives it over HTTP: `POST /bench/reset` (clear counts, set the callbacks URL
and the auto-answer share), `GET /bench/stats` (arrival times and numbers of every SMS,
the auto-answers posted and what the service answered to each), `GET /bench/count`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import time
from typing import Any

from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from tests.standins.twilio import TwilioStandIn
from tests.standins.twilio_wire import E164, TwilioMessage, error_response, message_resource

EMPTY_TWIML = str(MessagingResponse())


class BenchTwilio(TwilioStandIn):
    """The Twilio stand-in, lean on the Messages path, with auto-answers and counters."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[float, str]] = []
        self.answers: list[tuple[float, int]] = []  # (posted at, service's HTTP status)
        self.answer_share = 0.0
        self.planned = 0  # auto-answers scheduled, posted or not yet
        self.answer_after = (1.0, 1.0)
        self._serial = itertools.count(1)
        self._chance = random.Random(7)  # which persons answer: reproducible, not security
        self.app.router.add_post("/baseline/sms", _baseline_sms)
        self.app.router.add_post("/baseline/signed", self._baseline_signed)
        self.app.router.add_post("/bench/reset", self._reset)
        self.app.router.add_get("/bench/stats", self._stats)
        self.app.router.add_get("/bench/count", self._count)

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        at = time.time()
        refused = self._refused(request)
        if refused is not None:
            return refused
        form = await request.post()
        to, from_, body = form.get("To"), form.get("From"), form.get("Body")
        callback = form.get("StatusCallback")
        if not isinstance(to, str) or not to:
            return error_response(400, 21604, "A 'To' phone number is required.")
        if not isinstance(from_, str) or not from_:
            return error_response(400, 21603, "A 'From' phone number is required.")
        if not isinstance(body, str) or not body:
            return error_response(400, 21602, "Message body is required.")
        if not E164.fullmatch(to):
            return error_response(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        validity = form.get("ValidityPeriod")
        message = TwilioMessage(
            f"SM{next(self._serial):032x}",
            to,
            from_,
            body,
            callback if isinstance(callback, str) else None,
            validity if isinstance(validity, str) else None,
        )
        self.sent.append((at, to))
        if self.answer_share and self._chance.random() < self.answer_share:
            delay = self._chance.uniform(*self.answer_after)
            self.planned += 1
            self._later(delay, self._answer(to))
        return web.json_response(message_resource(self.account_sid, message), status=201)

    async def _answer(self, phone: str) -> None:
        try:
            reply = await self.inbound_sms(phone, "1")
            status = reply.status
        except Exception:  # a refused connection counts as an answer lost, not a crash
            status = 0
        self.answers.append((time.time(), status))

    async def _baseline_signed(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not self._validator.validate(str(request.url), fields, signature):
            return web.Response(status=403)
        return web.Response(text=EMPTY_TWIML, content_type="text/xml", charset="utf-8")

    async def _reset(self, request: web.Request) -> web.Response:
        config: dict[str, Any] = await request.json()
        for task in list(self._tasks):
            task.cancel()
        self.sent.clear()
        self.answers.clear()
        self.planned = 0
        self.callbacks = config.get("callbacks")
        self.answer_share = float(config.get("answer_share", 0.0))
        low, high = config.get("answer_after", (1.0, 1.0))
        self.answer_after = (float(low), float(high))
        self._chance = random.Random(7)
        return web.json_response({"ok": True})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"sent": self.sent, "answers": self.answers})

    async def _count(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"sent": len(self.sent), "answers": len(self.answers), "planned": self.planned}
        )


async def _baseline_sms(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text=EMPTY_TWIML, content_type="text/xml", charset="utf-8")


async def _serve(port: int) -> None:
    standin = BenchTwilio()
    await standin.start(port)
    try:
        print(f"bench twilio stand-in at {standin.url}", flush=True)
        await asyncio.Event().wait()
    finally:
        await standin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="The benchmark's Twilio stand-in.")
    parser.add_argument("--port", type=int, required=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
