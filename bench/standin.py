"""The benchmark's Twilio stand-in, run as its own process: `python -m bench.standin --port N`.

It is the test stand-in (`tests.standins.twilio.TwilioStandIn`), same routes, same Basic
auth check, same validation and the same 201 Message and Call JSON, with these changes
for load:

- a Messages or Calls request is parsed once and kept as (arrival time, To) only, instead
  of the full request log the tests inspect; the sid is a counter, not 32 random draws;
- it reports back as Twilio does: for a message with a `StatusCallback`, a signed `sent`
  after `report_after` seconds and, as long again later, a signed `delivered` (a share
  `undelivered`, error 30003); for a call, after `report_after`, the whole call
  (`TwilioStandIn.answer_call`): the status events the call asked for (initiated,
  ringing, answered, completed), the TwiML fetch, the asynchronous machine verdict, and a
  key `1` for a share of the calls (the others press nothing and hear the replays);
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
from collections import Counter
from typing import Any

from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from tests.standins.twilio import TwilioStandIn
from tests.standins.twilio_wire import (
    E164,
    TwilioCall,
    TwilioMessage,
    call_resource,
    error_response,
    message_params,
    message_resource,
)

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
        self.report_after: float | None = None  # None: no status callbacks at all
        self.undelivered = 0.0  # the share of messages reported undelivered
        self.key_share = 1.0  # the share of calls that press 1
        self.calls_placed: list[tuple[float, str]] = []
        self.calls_done = 0
        self.reports_due = 0  # callbacks planned (every one counted once posted)
        self.replies: Counter[int] = Counter()  # the receiver's status per callback
        self._fate = random.Random(11)  # which reports fail, which calls press 1
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
        if self.report_after is not None and message.status_callback:
            self.reports_due += 2
            self._later(self.report_after, self._report(message))
        if self.answer_share and self._chance.random() < self.answer_share:
            delay = self._chance.uniform(*self.answer_after)
            self.planned += 1
            self._later(delay, self._answer(to))
        return web.json_response(message_resource(self.account_sid, message), status=201)

    async def _report(self, message: TwilioMessage) -> None:
        """`sent`, then `delivered` (or `undelivered`) `report_after` seconds later."""
        await self._post_report(message, "sent", None)
        await asyncio.sleep(self.report_after or 0.0)
        if self._fate.random() < self.undelivered:
            await self._post_report(message, "undelivered", 30003)
        else:
            await self._post_report(message, "delivered", None)

    async def _post_report(self, message: TwilioMessage, status: str, code: int | None) -> None:
        params = message_params(self.account_sid, message, status, code)
        try:
            reply = await self.post_signed(message.status_callback or "", params)
            self.replies[reply.status] += 1
        except Exception:  # a refused connection counts as a report lost, not a crash
            self.replies[0] += 1

    async def _create_call(self, request: web.Request) -> web.StreamResponse:
        at = time.time()
        refused = self._refused(request)
        if refused is not None:
            return refused
        form = await request.post()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        to, from_, url = fields.get("To"), fields.get("From"), fields.get("Url")
        if not to or not from_ or not url or not E164.fullmatch(to):
            return error_response(400, 21201, "To, From and Url are required.")
        events = [str(item) for item in form.getall("StatusCallbackEvent", [])]
        call = TwilioCall(
            sid=f"CA{next(self._serial):032x}",
            to=to,
            from_=from_,
            url=url,
            status_callback=fields.get("StatusCallback"),
            status_callback_events=[event for item in events for event in item.split()]
            or ["completed"],
            amd_callback=fields.get("AsyncAmdStatusCallback"),
            machine_detection=fields.get("MachineDetection"),
        )
        self.calls[call.sid] = call
        self.calls_placed.append((at, to))
        if self.report_after is not None:
            digits = "1" if self._fate.random() < self.key_share else ""
            self._later(self.report_after, self._play(call.sid, digits))
        return web.json_response(call_resource(self.account_sid, call), status=201)

    async def _play(self, call_sid: str, digits: str) -> None:
        """The call through, as `answer_call` plays it; every callback's answer counted."""
        try:
            result = await self.answer_call(call_sid, digits)
            self.replies.update(reply.status for _, reply in result.replies)
        except Exception:
            self.replies[0] += 1
        self.calls_done += 1
        del self.calls[call_sid]  # its documents were only needed while it ran

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
        self.calls.clear()
        self.calls_placed.clear()
        self.calls_done = self.reports_due = 0
        self.replies.clear()
        after = config.get("report_after")
        self.report_after = None if after is None else float(after)
        self.undelivered = float(config.get("undelivered", 0.0))
        self.key_share = float(config.get("key_share", 1.0))
        self._fate = random.Random(11)
        self.callbacks = config.get("callbacks")
        self.answer_share = float(config.get("answer_share", 0.0))
        low, high = config.get("answer_after", (1.0, 1.0))
        self.answer_after = (float(low), float(high))
        self._chance = random.Random(7)
        return web.json_response({"ok": True})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"sent": self.sent, "answers": self.answers, "calls": self.calls_placed}
        )

    async def _count(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "sent": len(self.sent),
                "answers": len(self.answers),
                "planned": self.planned,
                "calls": len(self.calls_placed),
                "calls_done": self.calls_done,
                "reports_due": self.reports_due,
                "replies": {str(status): n for status, n in self.replies.items()},
            }
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
