"""A local stand-in for Twilio: its REST API for Messages and Calls, and its callbacks.

The provider's side, as Twilio speaks it (REST API 2010-04-01):

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and `.../Calls.json`, with HTTP
  Basic auth (AccountSid:AuthToken; 401 with Twilio's JSON error otherwise), form-encoded
  bodies, and Twilio's answers: 201 with the resource JSON (`SM…`/`CA…` sids of 34
  characters, status `queued`, RFC 2822 dates), or an error body
  `{"code", "message", "more_info", "status"}`.
- Callbacks to the service under test, each signed like Twilio signs them
  (`X-Twilio-Signature`, `RequestValidator.compute_signature` over the URL and form):
  `deliver` (SMS status report), `answer_call` (a whole call: progress events, TwiML
  fetch, answering-machine verdict, key presses, completion), `end_call` (busy, no
  answer …) and `inbound_sms` (a person's SMS to jiaoying's number).
- `forge` sends a callback with no or a wrong signature, as an attacker would.

Run it on its own for a benchmark: `python -m tests.standins.twilio --port 8901
--callbacks http://127.0.0.1:8080 --auto-deliver 0.5` (every SMS reported delivered and
every call answered with key 1 after half a second).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hmac
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator
from yarl import URL

from tests.standins.base import StandInServer
from tests.standins.twilio_wire import (
    API,
    E164,
    CallResult,
    Reply,
    TwilioCall,
    TwilioMessage,
    call_params,
    call_resource,
    error_response,
    message_params,
    message_resource,
    next_request,
    rfc2822_now,
    segments,
)

__all__ = ["CallResult", "Reply", "TwilioCall", "TwilioMessage", "TwilioStandIn"]

DEFAULT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_TOKEN = "twilio-auth-token-" + "5e" * 8
MAX_DOCUMENTS = 12  # TwiML documents one simulated call may fetch (redirect loops end)


class TwilioStandIn(StandInServer):
    """Twilio's Messages and Calls API plus its signed callbacks; see the module doc."""

    def __init__(
        self,
        account_sid: str = DEFAULT_SID,
        auth_token: str = DEFAULT_TOKEN,
        *,
        callbacks: str | None = None,
        auto_deliver: float | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.secrets = [auth_token]
        self.callbacks = callbacks  # jiaoying's public URL, for inbound SMS
        self.auto_deliver = auto_deliver
        self.messages: dict[str, TwilioMessage] = {}
        self.calls: dict[str, TwilioCall] = {}
        self._validator = RequestValidator(auth_token)
        self._tasks: set[asyncio.Task[Any]] = set()
        accounts = API + "/Accounts/{account}"
        self.app.router.add_post(accounts + "/Messages.json", self._create_message)
        self.app.router.add_post(accounts + "/Calls.json", self._create_call)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await super().close()

    # -- the REST API ------------------------------------------------------------------

    def server_error(self) -> web.Response:
        return error_response(500, 20500, "An internal server error has occurred")

    def rate_limited(self, retry_after: float) -> web.Response:
        response = error_response(429, 20429, "Too Many Requests")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    def _refused(self, request: web.Request) -> web.Response | None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        genuine = (
            scheme.lower() == "basic"
            and hmac.compare_digest(user.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
        )
        if not genuine:
            response = error_response(401, 20003, "Authenticate")
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        if request.match_info["account"] != self.account_sid:
            return error_response(404, 20404, "The requested resource was not found")
        return None

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        # Explicit None checks: an aiohttp response is a (falsy, empty) mapping.
        planned = await self.intercept(request)
        if planned is not None:
            return planned
        refused = self._refused(request)
        if refused is not None:
            return refused
        to, from_, body = recorded.one("To"), recorded.one("From"), recorded.one("Body")
        callback = recorded.one("StatusCallback")
        if not to:
            return error_response(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return error_response(400, 21603, "A 'From' phone number is required.")
        if not body:
            return error_response(400, 21602, "Message body is required.")
        if not E164.fullmatch(to):
            return error_response(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if callback is not None and not callback.startswith(("http://", "https://")):
            return error_response(400, 21609, "The StatusCallback URL is not a valid URL.")
        sid = self.new_id("SM")
        message = TwilioMessage(sid, to, from_, body, callback, recorded.one("ValidityPeriod"))
        self.messages[sid] = message
        if self.auto_deliver is not None and callback:
            self._later(self.auto_deliver, self.deliver(sid, "delivered"))
        await self.hold_answer()
        return web.json_response(message_resource(self.account_sid, message), status=201)

    async def _create_call(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        # Explicit None checks: an aiohttp response is a (falsy, empty) mapping.
        planned = await self.intercept(request)
        if planned is not None:
            return planned
        refused = self._refused(request)
        if refused is not None:
            return refused
        to, from_, url = recorded.one("To"), recorded.one("From"), recorded.one("Url")
        if not to:
            return error_response(400, 21201, "No 'To' number is specified")
        if not from_:
            return error_response(400, 21213, "No 'From' number is specified")
        if not url or not url.startswith(("http://", "https://")):
            return error_response(400, 21205, "Url is not a valid URL.")
        if not E164.fullmatch(to):
            return error_response(400, 21217, f"Phone number {to} is not a valid phone number.")
        events = recorded.form.get("StatusCallbackEvent") or ["completed"]
        call = TwilioCall(
            sid=self.new_id("CA"),
            to=to,
            from_=from_,
            url=url,
            status_callback=recorded.one("StatusCallback"),
            # Twilio takes the events as repeated fields or space-separated in one.
            status_callback_events=[event for item in events for event in item.split()],
            amd_callback=recorded.one("AsyncAmdStatusCallback"),
            machine_detection=recorded.one("MachineDetection"),
        )
        self.calls[call.sid] = call
        if self.auto_deliver is not None:
            self._later(self.auto_deliver, self.answer_call(call.sid, "1"))
        await self.hold_answer()
        return web.json_response(call_resource(self.account_sid, call), status=201)

    # -- callbacks, the provider's side ------------------------------------------------

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """The `X-Twilio-Signature` Twilio would send with `params` posted to `url`."""
        return str(self._validator.compute_signature(url, dict(params)))

    async def post_signed(self, url: str, params: Mapping[str, str]) -> Reply:
        """POST `params` form-encoded to `url`, signed with the auth token, as Twilio does."""
        return await self.forge(url, params, signature=self.sign(url, params))

    async def forge(
        self,
        url: str,
        params: Mapping[str, str],
        *,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """POST a callback with `signature` as given (None: no signature header at all),
        and any extra `headers` (a forged `Host`, say)."""
        sent = {"User-Agent": "TwilioProxy/1.1", **(headers or {})}
        if signature is not None:
            sent["X-Twilio-Signature"] = signature
        # encoded=True: the URL goes out byte for byte as signed (`%3A` stays `%3A`), as
        # Twilio requests the very string it was given.
        target = URL(url, encoded=True)
        async with self.http.post(target, data=dict(params), headers=sent) as response:
            return Reply(response.status, await response.text())

    async def deliver(self, message_sid: str, status: str, error_code: int | None = None) -> Reply:
        """Report message `message_sid` as `status` (delivered, undelivered …) to its
        StatusCallback, with `ErrorCode` when given."""
        message = self.messages[message_sid]
        if not message.status_callback:
            raise ValueError(f"message {message_sid} has no StatusCallback")
        message.status = status
        params = message_params(self.account_sid, message, status, error_code)
        return await self.post_signed(message.status_callback, params)

    async def _progress(
        self, call: TwilioCall, event: str, status: str, result: CallResult
    ) -> Reply | None:
        call.status = status
        if not call.status_callback or event not in call.status_callback_events:
            return None
        params = call_params(self.account_sid, call, status) | {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.sequence),
            "Timestamp": rfc2822_now(),
        }
        if status not in ("initiated", "ringing", "in-progress"):
            params["CallDuration"] = "20" if status == "completed" else "0"
        call.sequence += 1
        reply = await self.post_signed(call.status_callback, params)
        result.replies.append((event, reply))
        return reply

    async def answer_call(
        self,
        call_sid: str,
        digits: str | Sequence[str] = "1",
        answered_by: str = "human",
    ) -> CallResult:
        """Play call `call_sid` through, as Twilio would with someone (or something) on the
        line: initiated, ringing, answered; fetch the TwiML (signed POST); post the
        answering-machine verdict `answered_by`; run the TwiML, pressing `digits` at each
        `<Gather>` in turn (a str is one press; "" or running out means no key) and
        following `<Redirect>`s; then completed."""
        call = self.calls[call_sid]
        presses = [digits] if isinstance(digits, str) else list(digits)
        result = CallResult()
        await self._progress(call, "initiated", "initiated", result)
        await self._progress(call, "ringing", "ringing", result)
        await self._progress(call, "answered", "in-progress", result)
        url: str | None = call.url
        params = call_params(self.account_sid, call, "in-progress")
        while url is not None and len(result.twiml) < MAX_DOCUMENTS:
            reply = await self.post_signed(url, params)
            result.replies.append(("twiml", reply))
            result.twiml.append(reply.text)
            call.twiml.append(reply.text)
            if len(result.twiml) == 1 and call.amd_callback:
                # Async AMD: the verdict arrives while the first document plays.
                verdict = {
                    "AccountSid": self.account_sid,
                    "AnsweredBy": answered_by,
                    "CallSid": call.sid,
                    "MachineDetectionDuration": "1800",
                }
                result.replies.append(("amd", await self.post_signed(call.amd_callback, verdict)))
            document_url = url
            url, pressed = next_request(reply.text, presses, document_url)
            params = call_params(self.account_sid, call, "in-progress")
            if pressed:
                params |= {"Digits": pressed, "FinishedOnKey": ""}
        await self._progress(call, "completed", "completed", result)
        return result

    async def end_call(self, call_sid: str, status: str) -> Reply | None:
        """End call `call_sid` unanswered (busy, no-answer, failed or canceled) and report
        it to its StatusCallback (None when it has none)."""
        call = self.calls[call_sid]
        result = CallResult()
        await self._progress(call, "initiated", "initiated", result)
        # Twilio reports every final status as the `completed` event.
        return await self._progress(call, "completed", status, result)

    async def inbound_sms(self, from_: str, body: str, to: str = "+15005550006") -> Reply:
        """A person's SMS to jiaoying's number, posted to `/callbacks/twilio/sms`."""
        if not self.callbacks:
            raise ValueError("set `callbacks` to the service's public URL first")
        sid = self.new_id("SM")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": from_,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(segments(body)),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }
        return await self.post_signed(f"{self.callbacks.rstrip('/')}/callbacks/twilio/sms", params)

    def _later(self, delay: float, work: Coroutine[Any, Any, Any]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _serve(args: argparse.Namespace) -> None:
    standin = TwilioStandIn(
        args.sid, args.token, callbacks=args.callbacks, auto_deliver=args.auto_deliver
    )
    standin.error_rate = args.error_rate
    standin.rate_limit = args.rate_limit
    await standin.start(args.port)
    try:
        print(f"twilio stand-in at {standin.url}", flush=True)
        await asyncio.Event().wait()
    finally:
        await standin.close()


def main() -> None:
    """Serve the stand-in until interrupted (for benchmarks and manual runs)."""
    parser = argparse.ArgumentParser(description="A local stand-in for Twilio's REST API.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sid", default=DEFAULT_SID)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--callbacks", help="jiaoying's public URL (for inbound SMS)")
    parser.add_argument("--auto-deliver", type=float, default=None)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=None)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
