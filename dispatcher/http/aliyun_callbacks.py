"""Alibaba Cloud's pushes: SMS delivery receipts (`SmsReport`) and replies (`SmsUp`).

Routes (POST, a JSON array of items, as the console's callback URLs receive them):

- `/callbacks/aliyun/{secret}/sms-report`  receipts → `Replies.delivery`
- `/callbacks/aliyun/{secret}/sms-up`      replies  → `Replies.text_from`
- `/callbacks/aliyun/{secret}/voice-report` a call's end (`VoiceReport`) or its key
  presses (`VoiceCallReport`); the documentation disagrees on which carries `dtmf`, so
  either may: a `1` on an IvrCall answers, once per call id

Alibaba Cloud signs no push. Nobody answers for somebody else (guarantee 5) all the
same: the URL given to the console carries a per-deployment secret
(`JIAOYING_CALLBACK_SECRETS`; the first is current, the others still accepted while a
rotation reaches the console), compared in constant time; a wrong one answers 404 like a
path that does not exist. With `JIAOYING_CALLBACK_NETWORKS` a push from elsewhere is
refused (403). A receipt names the batch's `BizId` and the number, so it moves only a
send jiaoying made to that number; a reply answers only the open warnings of the persons
whose number it came from, and each reply is taken once (its number and
`sequence_id`): a replay or the provider's duplicate records nothing.

The answer is what Alibaba Cloud expects, `{"code": 0, "msg": "成功"}`, also for a
duplicate (else it would retry it after 1, 5 and 10 minutes); a body that is not a JSON
array gets 400 with a non-zero code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from channels.aliyun_wire import ANSWERABLE_KINDS, ivr_answer, sms_provider_id
from channels.base import Reason
from dispatcher.http.auth import SETTINGS
from dispatcher.http.callback_secret import NotYetKnown
from dispatcher.http.keys import REPLIES
from dispatcher.http.pushes import Handler, Provider, pushed
from dispatcher.store.receipts import Receipt, Replayed

__all__ = [
    "SMS_REPORT_PATH",
    "SMS_UP_PATH",
    "VOICE_REPORT_PATH",
    "add_aliyun_routes",
]

log = structlog.get_logger("jiaoying.http.aliyun")

SMS_REPORT_PATH = "/callbacks/aliyun/{secret}/sms-report"
SMS_UP_PATH = "/callbacks/aliyun/{secret}/sms-up"
VOICE_REPORT_PATH = "/callbacks/aliyun/{secret}/voice-report"
# A call the person picked up: heard to the end (200000), or ended by the IVR's menu.
_CALL_REACHED = frozenset({"200000", "300000"})
# Receipt codes after which no later SMS to that number will arrive either.
_REJECTED = {
    "MK:0001": Reason.INVALID_ADDRESS,  # 空号
    "MK:0005": Reason.UNREACHABLE,  # 停机
    "IC:0001": Reason.INVALID_ADDRESS,
    "DB:0141": Reason.UNSUBSCRIBED,  # 黑名单
}

Items = list[dict[str, Any]]


def add_aliyun_routes(app: web.Application) -> None:
    app.router.add_post(SMS_REPORT_PATH, _pushed(sms_report))
    app.router.add_post(SMS_UP_PATH, _pushed(sms_up))
    app.router.add_post(VOICE_REPORT_PATH, _pushed(voice_report))


def _shape_problem(body: Any) -> str | None:
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        return "the push must be a JSON array of objects"
    return None


# Taken: {"code": 0, "msg": "成功"}, the answer the provider expects.
ALIYUN = Provider("aliyun", lambda code, msg: {"code": code, "msg": msg}, "成功", _shape_problem)


def _pushed(route: Callable[[web.Request, Items], Awaitable[int]]) -> Handler:
    return pushed(ALIYUN, route)


async def sms_report(request: web.Request, items: Items) -> int:
    """Each receipt moves the send of its batch and number: delivered, or failed."""
    moved = unknown = 0
    for item in items:
        biz_id, phone = str(item.get("biz_id") or ""), str(item.get("phone_number") or "")
        if not biz_id or not phone:
            continue
        success = item.get("success") in (True, "true", "True")
        code = str(item.get("err_code") or "")
        if success:
            status, reason, detail = "delivered", None, None
        elif code in _REJECTED:
            status, reason, detail = "rejected", str(_REJECTED[code]), f"Alibaba Cloud {code}"
        else:
            status, reason, detail = "failed", str(Reason.UNREACHABLE), f"Alibaba Cloud {code}"
        provider_id = sms_provider_id(biz_id, phone)
        if await request.app[REPLIES].send_of(provider_id) is None:
            unknown += 1
            continue
        if await request.app[REPLIES].delivery(
            provider_id=provider_id, status=status, reason=reason, detail=detail
        ):
            moved += 1
    if unknown:
        raise NotYetKnown(unknown)
    return moved


async def sms_up(request: web.Request, items: Items) -> int:
    """Each reply answers (`1`, `收到`, `确认` …) or is kept as a note, once."""
    answered = 0
    replies = request.app[REPLIES]
    for item in items:
        raw, content = str(item.get("phone_number") or ""), str(item.get("content") or "")
        sequence = str(item.get("sequence_id") or "")
        if not raw or not sequence:
            continue
        try:
            phone = replies.sender(raw)
        except ValueError:
            log.warning("aliyun reply from an unreadable number ignored")
            continue
        try:
            closed = await replies.text_from(
                phone, content, receipt=Receipt("aliyun-sms-up", f"{phone}:{sequence}")
            )
        except Replayed:
            log.info("aliyun reply taken before: nothing recorded", sequence_id=sequence)
            continue
        answered += sum(len(item.recipient_ids) for item in closed)
    return answered


async def voice_report(request: web.Request, items: Items) -> int:
    """Each report moves its call (reached: delivered; else failed); key 1 on an IvrCall
    answers, taken once per call id (reports come twice, retries more)."""
    replies = request.app[REPLIES]
    ivr = request.app[SETTINGS].aliyun_ivr_number is not None
    answered = 0
    for item in items:
        call_id = str(item.get("call_id") or "")
        found = await replies.send_of(call_id) if call_id else None
        if found is None:
            continue
        key, kind = found
        code = str(item.get("status_code") or "")
        if code in _CALL_REACHED:
            await replies.delivery(provider_id=call_id, status="delivered")
        elif code:
            await replies.delivery(
                provider_id=call_id,
                status="failed",
                reason=str(Reason.UNREACHABLE),
                detail=f"Alibaba Cloud call {code}",
            )
        if not (ivr and kind in ANSWERABLE_KINDS and ivr_answer(item.get("dtmf"))):
            continue  # a TTS call only delivers; no key, no answer
        try:
            closed = await replies.answer_send(
                key,
                via="voice",
                detail="key 1 on an Alibaba Cloud call",
                receipt=Receipt("aliyun-key", call_id),
            )
        except Replayed:
            log.info("aliyun key press taken before: nothing recorded", provider_id=call_id)
            continue
        answered += len(closed.recipient_ids) if closed else 0
    return answered
