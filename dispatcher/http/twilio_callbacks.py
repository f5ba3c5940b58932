"""Twilio's callbacks: SMS and call reports, the call's TwiML and key press, inbound SMS.

Routes (all POST, all form-encoded, as Twilio sends them):

- `/callbacks/twilio/status?key=…`       SMS status report → `Replies.delivery`
- `/callbacks/twilio/call-status?key=…`  call progress → `Replies.delivery`
- `/callbacks/twilio/amd?key=…`          answering-machine verdict → "failed", "voicemail"
- `/callbacks/twilio/voice?key=…`        the call's TwiML: the notice, then "press 1"
- `/callbacks/twilio/gather?key=…`       the key pressed: `1` answers, else a replay
- `/callbacks/twilio/sms`                an SMS from a person → `Replies.text_from`

Nobody answers for somebody else (guarantee 5): every request must carry a valid
`X-Twilio-Signature`, computed by Twilio over the URL it requested and the posted form.
That URL is the one jiaoying gave Twilio, under `JIAOYING_PUBLIC_URL`, so it is rebuilt
from the setting and the request's raw path, never from the Host header a proxy or a
forger controls. A missing or wrong signature gets 403 and records nothing. Without a
Twilio auth token there is nothing to verify against: every route answers 404.

Twilio signs no timestamp, so a genuine request captured and sent again would pass the
signature check. The two that answer for a person are therefore taken once: an inbound
SMS by its `MessageSid`, a key press `1` by its `CallSid`, send key and digits, each
remembered in the answer's own transaction (`dispatcher.store.receipts`). A second copy
gets 409 and records nothing. Reports and the TwiML fetch are not remembered: a report
only ever moves a send forward, so a replayed one finds it there already and changes
nothing (it answers 204 as before), and the TwiML is read-only.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse

from channels.twilio_http import Report, callback_url
from channels.twilio_sms import STATUS_PATH, sms_report
from channels.twilio_voice import (
    AMD_PATH,
    CALL_STATUS_PATH,
    GATHER_PATH,
    NO_ANSWER,
    THANKS,
    VOICE_PATH,
    VOICEMAIL,
    amd_report,
    call_report,
    call_twiml,
    ending_twiml,
    is_machine,
    replay_twiml,
)
from dispatcher.http.auth import SETTINGS
from dispatcher.http.keys import REPLIES
from dispatcher.http.problems import problem
from dispatcher.store.receipts import Receipt, Replayed

__all__ = ["INBOUND_SMS_PATH", "MAX_REPLAYS", "add_twilio_routes", "public_request_urls"]

log = structlog.get_logger("jiaoying.http.twilio")

INBOUND_SMS_PATH = "/callbacks/twilio/sms"
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM_TYPE = "application/x-www-form-urlencoded"
NOT_A_FORM = f"Twilio posts an {FORM_TYPE} form"
MAX_REPLAYS = 3

Form = MultiDict[str]
FormHandler = Callable[[web.Request, Form], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_twilio_routes(app: web.Application) -> None:
    """Register every Twilio callback route on `app` (settings and replies read per request)."""
    app.router.add_post(STATUS_PATH, _signed(sms_status))
    app.router.add_post(CALL_STATUS_PATH, _signed(call_status))
    app.router.add_post(AMD_PATH, _signed(machine_verdict))
    app.router.add_post(VOICE_PATH, _signed(voice_twiml))
    app.router.add_post(GATHER_PATH, _signed(key_pressed))
    app.router.add_post(INBOUND_SMS_PATH, _signed(inbound_sms))


def public_request_urls(public_url: str, request: web.Request) -> list[str]:
    """The URL Twilio requested and signed: the public URL plus the path and query.

    First as the request line carried it (the query exactly as jiaoying wrote it, `%3A`
    stays `%3A`); then in canonical form, for a proxy on the way that re-encoded it.
    """
    base = public_url.rstrip("/")
    raw = base + request.raw_path
    canonical = base + str(request.rel_url)
    return [raw] if canonical == raw else [raw, canonical]


def _signed(handler: FormHandler) -> Handler:
    """Run `handler` only for a request Twilio signed with the configured auth token."""

    async def verified(request: web.Request) -> web.StreamResponse:
        settings = request.app[SETTINGS]
        if settings.twilio_auth_token is None:
            return problem(404, "Twilio is not configured here")
        # Twilio posts urlencoded forms only; `post()` would parse multipart too, and
        # raise out of its parser on a broken one.
        if request.content_type != FORM_TYPE:
            return problem(400, NOT_A_FORM)
        try:
            posted = await request.post()
        except ValueError:  # bytes that are not text in the form's charset
            return problem(400, NOT_A_FORM)
        # The validator signs text fields only; a file upload is never Twilio's.
        form: Form = MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
        signature = request.headers.get(SIGNATURE_HEADER, "")
        validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
        # The URL as requested is what Twilio signs; rebuilding its canonical form (a yarl
        # URL per request) is left to the requests it does not match.
        raw = settings.public_url.rstrip("/") + request.raw_path
        if not signature or not (
            _signs(validator, raw, form, signature)
            or _genuine(
                validator, public_request_urls(settings.public_url, request), form, signature
            )
        ):
            log.warning("twilio callback refused: bad or missing signature", path=request.path)
            return problem(403, "the request does not carry a valid Twilio signature")
        return await handler(request, form)

    verified.__name__ = handler.__name__
    verified.__doc__ = handler.__doc__
    return verified


def _genuine(validator: RequestValidator, urls: list[str], form: Form, signature: str) -> bool:
    """Whether `signature` is Twilio's over one of `urls` and `form`.

    First the SDK's signature of the URL exactly as requested, one HMAC: what Twilio signs.
    Only when that differs, `validate`, which also tries the URL with and without its port
    (and a JSON body's hash): two HMACs and the URL taken apart twice, which made a third
    of a delivery report's route."""
    if any(_signs(validator, url, form, signature) for url in urls):
        return True
    return any(validator.validate(url, form, signature) for url in urls)


def _signs(validator: RequestValidator, url: str, form: Form, signature: str) -> bool:
    """Whether `signature` is the SDK's signature of `url` and `form`, as they are."""
    if "bodySHA256" in url:
        return False  # a body hash to check: only `validate` does
    computed = validator.compute_signature(url, form)
    return hmac.compare_digest(computed.encode(), signature.encode())


async def _record(
    request: web.Request, key: str, provider_id: str | None, report: Report | None
) -> bool:
    """Apply what a status callback means to send `key`; whether it moved the send
    (None, a status that says nothing about delivery, moves nothing)."""
    if report is None:
        return False
    return await request.app[REPLIES].delivery(
        key=key,
        provider_id=provider_id,
        status=report.status,
        reason=report.reason,
        detail=report.detail,
    )


def _report_log(report: Report | None) -> Callable[..., None]:
    """INFO for a send that failed; DEBUG for the rest (sent, delivered, nothing said): a
    fan-out brings two or more reports per send, and the attempt row keeps its state."""
    if report is not None and report.status in ("failed", "rejected"):
        return log.info  # type: ignore[no-any-return]
    # The level configured (runtime/logs) is the root logger's: a line it drops costs no
    # logger bound for it (structlog's proxy binds one per call: 4 % of a report's route).
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        return _dropped
    debug: Callable[..., None] = log.debug
    return debug


def _dropped(*_args: object, **_fields: object) -> None:
    return None


def _key(request: web.Request) -> str | None:
    key = request.query.get("key", "").strip()
    return key or None


def _twiml(document: TwiML | str) -> web.Response:
    return web.Response(text=str(document), content_type="text/xml", charset="utf-8")


# An inbound SMS is answered with no message back: the same document every time, and
# building it cost as much as checking the signature.
_NO_REPLY = str(MessagingResponse())


def _no_key() -> web.Response:
    return problem(400, "the callback URL carries no notice key")


async def sms_status(request: web.Request, form: Form) -> web.StreamResponse:
    """A Messages status callback: move the send along (queued … delivered/undelivered)."""
    key = _key(request)
    if key is None:
        return _no_key()
    sid = form.get("MessageSid") or form.get("SmsSid")
    report = sms_report(
        form.get("MessageStatus") or form.get("SmsStatus") or "", form.get("ErrorCode")
    )
    moved = await _record(request, key, sid, report)
    _report_log(report)(
        "twilio sms status",
        key=key,
        provider_id=sid,
        provider_status=form.get("MessageStatus"),
        error_code=form.get("ErrorCode"),
        status=report.status if report else None,
        moved=moved,
    )
    return web.Response(status=204)


async def call_status(request: web.Request, form: Form) -> web.StreamResponse:
    """A call-progress callback: ringing/answered → sent, completed → delivered unless a
    machine took the call, busy/no-answer/failed/canceled → failed."""
    key = _key(request)
    if key is None:
        return _no_key()
    sid = form.get("CallSid")
    report = call_report(form.get("CallStatus", ""), form.get("AnsweredBy"))
    if report is not None and report.status == "delivered" and await _machine_took(request, key):
        report = None  # the machine verdict stands; a voicemail never reached the person
    moved = await _record(request, key, sid, report)
    _report_log(report)(
        "twilio call status",
        key=key,
        provider_id=sid,
        provider_status=form.get("CallStatus"),
        status=report.status if report else None,
        moved=moved,
    )
    return web.Response(status=204)


async def machine_verdict(request: web.Request, form: Form) -> web.StreamResponse:
    """The asynchronous answering-machine verdict: a machine makes the call "failed"
    (reason "voicemail"); its key presses are ignored from now on."""
    key = _key(request)
    if key is None:
        return _no_key()
    sid = form.get("CallSid")
    answered_by = form.get("AnsweredBy")
    report = amd_report(answered_by)
    moved = await _record(request, key, sid, report)
    log.info(
        "twilio machine detection", key=key, provider_id=sid, answered_by=answered_by, moved=moved
    )
    return web.Response(status=204)


async def voice_twiml(request: web.Request, form: Form) -> web.StreamResponse:
    """The TwiML a call runs: the notice of `key` read in Mandarin, then a one-key Gather."""
    key = _key(request)
    if key is None:
        return _twiml(call_twiml(None, ""))
    replay = _replays(request)
    notice = await request.app[REPLIES].notice(key)
    if notice is None:
        log.warning("twilio voice fetch for an unknown notice", key=key)
    public_url = request.app[SETTINGS].public_url
    action = _callback(public_url, GATHER_PATH, key, replay)
    return _twiml(call_twiml(notice, action))


async def key_pressed(request: web.Request, form: Form) -> web.StreamResponse:
    """The Gather's result: `1` answers the notice; another key or none replays it, at
    most `MAX_REPLAYS` times. Nothing a machine sends counts."""
    key = _key(request)
    if key is None:
        return _twiml(ending_twiml(None))
    sid = form.get("CallSid")
    digits = form.get("Digits", "").strip()
    if digits and (is_machine(form.get("AnsweredBy")) or await _machine_took(request, key)):
        log.info("key press from an answering machine ignored", key=key, provider_id=sid)
        return _twiml(ending_twiml(None))
    if digits == "1":
        if not sid:
            return problem(400, "a key press without CallSid")
        try:
            closed = await request.app[REPLIES].answer_send(
                key,
                via="voice",
                detail=f"key 1 on call {sid}",
                receipt=Receipt("twilio-key", f"{sid}:{digits}:{key}"),
            )
        except Replayed:
            log.warning("twilio key press replayed: refused", key=key, provider_id=sid)
            return _replayed()
        log.info(
            "answered by key 1",
            key=key,
            provider_id=sid,
            known=closed is not None,
            closed=len(closed.recipient_ids) if closed else 0,
        )
        return _twiml(ending_twiml(THANKS))
    replay = _replays(request)
    if replay >= MAX_REPLAYS:
        log.info("no key 1 after the last replay", key=key, provider_id=sid, replays=replay)
        return _twiml(ending_twiml(NO_ANSWER))
    public_url = request.app[SETTINGS].public_url
    return _twiml(replay_twiml(_callback(public_url, VOICE_PATH, key, replay + 1)))


async def inbound_sms(request: web.Request, form: Form) -> web.StreamResponse:
    """An SMS a person sent to jiaoying's number: an answer word answers, anything else
    is kept as a note. The reply is empty TwiML: Twilio sends nothing back."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    body = form.get("Body", "")
    if not sid:
        return problem(400, "an inbound SMS without MessageSid")
    try:
        phone = request.app[REPLIES].sender(form.get("From", ""))
    except ValueError:
        log.warning("inbound sms from an unreadable number ignored", provider_id=sid)
        return _twiml(_NO_REPLY)
    try:
        closed = await request.app[REPLIES].text_from(
            phone, body, receipt=Receipt("twilio-sms", sid)
        )
    except Replayed:
        log.warning("twilio inbound sms replayed: refused", provider_id=sid)
        return _replayed()
    log.info(
        "inbound sms",
        provider_id=sid,
        chars=len(body),
        warnings=len(closed),
        answered=sum(len(item.recipient_ids) for item in closed),
    )
    return _twiml(_NO_REPLY)


def _replayed() -> web.Response:
    return problem(409, "this callback was taken before: a replay is refused")


def _replays(request: web.Request) -> int:
    try:
        return max(0, int(request.query.get("replay", "0")))
    except ValueError:
        return 0


def _callback(public_url: str, path: str, key: str, replay: int) -> str:
    # The replay count rides in the URL, which Twilio signs: a caller cannot reset it.
    url = callback_url(public_url, path, key)
    return f"{url}&replay={replay}" if replay else url


async def _machine_took(request: web.Request, key: str) -> bool:
    """True when the answering-machine verdict for send `key` was recorded (a machine or
    fax took the call). Read from the store, so it holds across replicas and restarts."""
    state = await request.app[REPLIES].send_state(key)
    return state is not None and state[1] == VOICEMAIL
