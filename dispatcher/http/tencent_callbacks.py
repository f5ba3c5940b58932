"""Tencent Cloud's pushes: SMS status and replies, voice-message results and key presses.

Routes (POST, JSON, as the console's callback URLs receive them):

- `/callbacks/tencent/{secret}/sms-status` a JSON array of status reports (`sid`: the
  SerialNo of the send) → `Replies.delivery`
- `/callbacks/tencent/{secret}/sms-reply`  one reply (`mobile`, `text`, `time`) →
  `Replies.text_from`, taken once per number and time and text
- `/callbacks/tencent/{secret}/voice`      `voiceprompt_callback` (the call's result)
  or `voicekey_callback` (a key pressed): key 1 answers, once per call id

Tencent Cloud signs no push: each URL carries the deployment's secret and may be
restricted to networks (`dispatcher.http.callback_secret`). The answer is what Tencent
expects, `{"result": 0, "errmsg": "OK"}`, also for a duplicate (else it retries).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from channels.base import Reason
from channels.tencent_wire import ANSWER_KEY, tencent_number
from dispatcher.http.callback_secret import NotYetKnown
from dispatcher.http.keys import REPLIES
from dispatcher.http.pushes import Handler, Provider, pushed
from dispatcher.store.receipts import Receipt, Replayed

__all__ = ["SMS_REPLY_PATH", "SMS_STATUS_PATH", "VOICE_PATH", "add_tencent_routes"]

log = structlog.get_logger("jiaoying.http.tencent")

SMS_STATUS_PATH = "/callbacks/tencent/{secret}/sms-status"
SMS_REPLY_PATH = "/callbacks/tencent/{secret}/sms-reply"
VOICE_PATH = "/callbacks/tencent/{secret}/voice"
ANSWERABLE_KINDS = frozenset({"alert", "update", "escalation", "door_knock"})
_REJECTED = {"MK:0001": Reason.INVALID_ADDRESS, "MK:0005": Reason.UNREACHABLE}


def add_tencent_routes(app: web.Application) -> None:
    app.router.add_post(SMS_STATUS_PATH, _pushed(sms_status))
    app.router.add_post(SMS_REPLY_PATH, _pushed(sms_reply))
    app.router.add_post(VOICE_PATH, _pushed(voice))


def _shape_problem(body: Any) -> str | None:
    return None if isinstance(body, list | dict) else "the push must be a JSON object or array"


# Taken: {"result": 0, "errmsg": "OK"}, the answer the provider expects.
TENCENT = Provider(
    "tencent", lambda code, msg: {"result": code, "errmsg": msg}, "OK", _shape_problem
)


def _pushed(route: Callable[[web.Request, Any], Awaitable[int]]) -> Handler:
    return pushed(TENCENT, route)


def _items(body: Any) -> list[dict[str, Any]]:
    items = body if isinstance(body, list) else [body]
    return [item for item in items if isinstance(item, dict)]


async def sms_status(request: web.Request, body: Any) -> int:
    moved = unknown = 0
    for item in _items(body):
        sid = str(item.get("sid") or "")
        if not sid:
            continue
        code = str(item.get("errmsg") or "")
        if str(item.get("report_status")).upper() == "SUCCESS":
            status, reason, detail = "delivered", None, None
        elif code in _REJECTED:
            status, reason, detail = "rejected", str(_REJECTED[code]), f"Tencent Cloud {code}"
        else:
            status, reason, detail = "failed", str(Reason.UNREACHABLE), f"Tencent Cloud {code}"
        if await request.app[REPLIES].send_of(sid) is None:
            unknown += 1
            continue
        if await request.app[REPLIES].delivery(
            provider_id=sid, status=status, reason=reason, detail=detail
        ):
            moved += 1
    if unknown:
        raise NotYetKnown(unknown)
    return moved


async def sms_reply(request: web.Request, body: Any) -> int:
    replies = request.app[REPLIES]
    answered = 0
    for item in _items(body):
        mobile, text = str(item.get("mobile") or ""), str(item.get("text") or "")
        if not mobile:
            continue
        nation = str(item.get("nationcode") or "86")
        try:
            phone = replies.sender(tencent_number(f"+{nation}{mobile}" if nation else mobile))
        except ValueError:
            log.warning("tencent reply from an unreadable number ignored")
            continue
        # No id of its own: the number, the time and the text tell a duplicate.
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        receipt = Receipt("tencent-sms", f"{phone}:{item.get('time')}:{digest}")
        try:
            closed = await replies.text_from(phone, text, receipt=receipt)
        except Replayed:
            log.info("tencent reply taken before: nothing recorded")
            continue
        answered += sum(len(entry.recipient_ids) for entry in closed)
    return answered


async def voice(request: web.Request, body: Any) -> int:
    replies = request.app[REPLIES]
    if not isinstance(body, dict):
        return 0
    result = body.get("voiceprompt_callback")
    if isinstance(result, dict) and result.get("callid"):
        answered_call = str(result.get("result")) == "0"
        await replies.delivery(
            provider_id=str(result["callid"]),
            status="delivered" if answered_call else "failed",
            reason=None if answered_call else str(Reason.UNREACHABLE),
            detail=None if answered_call else f"Tencent Cloud call result {result.get('result')}",
        )
        return 0
    key_press = body.get("voicekey_callback")
    if not isinstance(key_press, dict) or str(key_press.get("keypress")) != ANSWER_KEY:
        return 0
    call_id = str(key_press.get("callid") or "")
    found = await replies.send_of(call_id) if call_id else None
    if found is None or found[1] not in ANSWERABLE_KINDS:
        return 0
    try:
        closed = await replies.answer_send(
            found[0],
            via="voice",
            detail="key 1 on a Tencent Cloud call",
            receipt=Receipt("tencent-key", call_id),
        )
    except Replayed:
        log.info("tencent key press taken before: nothing recorded", provider_id=call_id)
        return 0
    return len(closed.recipient_ids) if closed else 0
