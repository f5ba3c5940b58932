"""Twilio's wire formats, as the stand-in (tests/standins/twilio.py) speaks them.

What Twilio keeps and returns (a Message, a Call), its error bodies, the form fields of
its webhooks, and how a call moves through the TwiML it fetches. Pure: no server here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web
from defusedxml import ElementTree

__all__ = [
    "API",
    "E164",
    "CallResult",
    "Reply",
    "TwilioCall",
    "TwilioMessage",
    "call_params",
    "call_resource",
    "error_response",
    "message_params",
    "message_resource",
    "next_request",
    "rfc2822_now",
    "segments",
]

API = "/2010-04-01"
API_VERSION = "2010-04-01"
E164 = re.compile(r"\+[1-9]\d{6,14}")
GSM7 = re.compile(
    r"[A-Za-z0-9 \r\n@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,\-./:;<=>?¡ÄÖÑÜ§¿äöñüà]*"
)


@dataclass
class TwilioMessage:
    """A message as the stand-in keeps it."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    validity_period: str | None
    status: str = "queued"


@dataclass
class TwilioCall:
    """A call as the stand-in keeps it, with the TwiML documents it has run."""

    sid: str
    to: str
    from_: str
    url: str
    status_callback: str | None
    status_callback_events: list[str]
    amd_callback: str | None
    machine_detection: str | None
    status: str = "queued"
    twiml: list[str] = field(default_factory=list)
    sequence: int = 0


@dataclass(frozen=True)
class Reply:
    """What the service under test answered to one callback."""

    status: int
    text: str


@dataclass
class CallResult:
    """The callbacks of one simulated call, in order, and the TwiML documents it ran."""

    replies: list[tuple[str, Reply]] = field(default_factory=list)
    twiml: list[str] = field(default_factory=list)

    @property
    def statuses(self) -> list[int]:
        return [reply.status for _, reply in self.replies]


def rfc2822_now() -> str:
    """Now as Twilio writes dates: `Mon, 20 Jul 2026 02:00:00 +0000`."""
    return format_datetime(datetime.now(UTC))


def segments(body: str) -> int:
    """SMS segments: GSM-7 160/153 characters, otherwise UCS-2 70/67 UTF-16 units."""
    if GSM7.fullmatch(body):
        single, part, length = 160, 153, len(body)
    else:
        single, part, length = 70, 67, len(body.encode("utf-16-le")) // 2
    return 1 if length <= single else -(-length // part)


def error_response(status: int, code: int, message: str) -> web.Response:
    """Twilio's error body: `{"code", "message", "more_info", "status"}`."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


def message_resource(account_sid: str, message: TwilioMessage) -> dict[str, Any]:
    """The Message JSON Twilio answers a create with."""
    now = rfc2822_now()
    uri = f"{API}/Accounts/{account_sid}/Messages/{message.sid}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(segments(message.body)),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


def call_resource(account_sid: str, call: TwilioCall) -> dict[str, Any]:
    """The Call JSON Twilio answers a create with."""
    now = rfc2822_now()
    uri = f"{API}/Accounts/{account_sid}/Calls/{call.sid}"
    return {
        "account_sid": account_sid,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "parent_call_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": None,
        "status": call.status,
        "subresource_uris": {"recordings": f"{uri}/Recordings.json"},
        "to": call.to,
        "to_formatted": call.to,
        "uri": f"{uri}.json",
    }


def message_params(
    account_sid: str, message: TwilioMessage, status: str, error_code: int | None
) -> dict[str, str]:
    """The form of a Messages status callback."""
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "From": message.from_,
        "MessageSid": message.sid,
        "MessageStatus": status,
        "SmsSid": message.sid,
        "SmsStatus": status,
        "To": message.to,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    if status == "delivered":
        params["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
    return params


def call_params(account_sid: str, call: TwilioCall, status: str) -> dict[str, str]:
    """The standard form fields of every voice webhook of a call."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": status,
        "Called": call.to,
        "Caller": call.from_,
        "Direction": "outbound-api",
        "From": call.from_,
        "To": call.to,
    }


def next_request(twiml: str, presses: list[str], document_url: str) -> tuple[str | None, str]:
    """Where a call goes after running `twiml`, and the key it pressed on the way.

    A `<Gather>` takes the next of `presses` (consumed; "" or none left means no key)
    and posts to its action (the document's own URL by default), unless nothing was
    pressed and `actionOnEmptyResult` is not set, when the call goes on to the next
    verb; a `<Redirect>` goes to its URL; `<Hangup>` or the document's end: nowhere.
    """
    for verb in ElementTree.fromstring(twiml):
        if verb.tag == "Gather":
            pressed = presses.pop(0) if presses else ""
            if pressed or verb.get("actionOnEmptyResult") == "true":
                return verb.get("action") or document_url, pressed
        elif verb.tag == "Redirect":
            return (verb.text or "").strip(), ""
        elif verb.tag in ("Hangup", "Reject"):
            return None, ""
    return None, ""
