"""WeChat's calls to jiaoying's server URL (公众号 服务器配置): `/callbacks/wechat`.

- `GET` is WeChat's URL verification: echo `echostr` when the signature is right.
- `POST` carries events as XML (明文 or 兼容 mode; jiaoying reads the plaintext fields).
  The one event acted on is `TEMPLATESENDJOBFINISH`, the delivery report of a template
  message, matched to its send by `MsgID`: `success` moves the send (and a recipient
  who was only notified) to delivered; `failed:user block` rejects it (the person
  blocked the account: the chain is woken to try another way); any other failure
  fails it. Being delivered, or read, is never an answer; nor is a text typed into
  the account: a person answers through the signed link of the message.

Both are authenticated by WeChat's signature over the query:
`signature == sha1("".join(sorted([token, timestamp, nonce])))`, with the server token
`JIAOYING_WECHAT_TOKEN`; anything else is refused with 403. The signature covers the
timestamp and nonce but not the body, so a captured query could carry any event: a
timestamp more than `WINDOW` (5 minutes) old or ahead of our clock is refused with 403,
and a push whose timestamp and nonce were seen before gets 409 and changes nothing
(each push's pair is remembered until its timestamp has left the window). With WeChat
not configured the routes answer 404.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import Element, ParseError

import structlog
from aiohttp import web
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from channels.base import Reason
from dispatcher.http.api import CLOCK
from dispatcher.http.auth import SETTINGS
from dispatcher.http.keys import REPLIES
from dispatcher.http.problems import problem
from dispatcher.store.receipts import Receipt, Replayed

log = structlog.get_logger("jiaoying.callbacks.wechat")

PATH = "/callbacks/wechat"
JOB_FINISHED = "TEMPLATESENDJOBFINISH"
# WeChat reports within a second or two, sometimes before the send's own result (and so
# its msgid) is written; wait for it a little, well inside WeChat's 5 s reply budget.
_MATCH_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8)
# How far a signed timestamp may be from our clock, either way.
WINDOW = timedelta(minutes=5)
# A pair seen at S was signed within WINDOW of S and is accepted until WINDOW after its
# timestamp: forgetting it after 3 × WINDOW leaves a margin for replicas' clocks.
RECEIPT_KEPT = 3 * WINDOW


def add_wechat_routes(app: web.Application) -> None:
    """Register `GET` and `POST /callbacks/wechat` on `app`."""
    app.router.add_get(PATH, verify_server)
    app.router.add_post(PATH, receive_event)


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's signature of a call to the server URL (hex SHA-1 of the sorted parts)."""
    joined = "".join(sorted((token, timestamp, nonce)))
    return hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 - WeChat's protocol fixes SHA-1


def job_outcome(status: str) -> tuple[str, str | None]:
    """The send status and reason a TEMPLATESENDJOBFINISH `Status` means."""
    if status == "success":
        return "delivered", None
    if status.replace(" ", "").startswith("failed:userblock"):
        return "rejected", Reason.UNSUBSCRIBED.value
    return "failed", Reason.SERVER_ERROR.value


async def verify_server(request: web.Request) -> web.StreamResponse:
    """URL verification: echo `echostr` to a correctly signed GET."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return web.Response(text=request.query.get("echostr", ""))


async def receive_event(request: web.Request) -> web.StreamResponse:
    """An event pushed by WeChat; answers `success` (anything else makes WeChat retry)."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    query = request.query
    receipt = Receipt("wechat", f"{query.get('timestamp', '')}:{query.get('nonce', '')}")
    try:
        await request.app[REPLIES].take_receipt(receipt, keep=RECEIPT_KEPT)
    except Replayed:
        log.warning("wechat push replayed: refused")
        return problem(409, "this push was taken before: a replay is refused")
    try:
        root = fromstring(await request.read())
    except (ParseError, DefusedXmlException):
        return problem(400, "the body is not WeChat's XML")
    event = (root.findtext("Event") or "").strip()
    if (root.findtext("MsgType") or "").strip() == "event" and event == JOB_FINISHED:
        await _job_finished(request, root)
    else:
        log.info("wechat push ignored", msg_type=root.findtext("MsgType") or "", wechat_event=event)
    return web.Response(text="success")


async def _job_finished(request: web.Request, root: Element) -> None:
    msgid = (root.findtext("MsgID") or root.findtext("MsgId") or "").strip()
    reported = (root.findtext("Status") or "").strip()
    if not msgid:
        log.warning("wechat delivery report without MsgID")
        return
    status, reason = job_outcome(reported)
    replies = request.app[REPLIES]
    recorded = False
    for pause in (0.0, *_MATCH_PAUSES):
        await asyncio.sleep(pause)
        recorded = await replies.delivery(
            provider_id=msgid,
            status=status,
            reason=reason,
            detail=None if reason is None else reported[:200],
        )
        if recorded:
            break
    # Not recorded: an unknown msgid, or a report that would not move the send forward
    # (a duplicate). Either way WeChat must not retry it, so the answer stays "success".
    log.info("wechat delivery report", msgid=msgid, status=status, recorded=recorded)


def _refusal(request: web.Request) -> web.Response | None:
    """None for a correctly signed call; else the response to send instead (404/403)."""
    token = request.app[SETTINGS].wechat_token
    if token is None:
        return problem(404, "WeChat is not configured")
    query = request.query
    expected = wechat_signature(
        token.get_secret_value(), query.get("timestamp", ""), query.get("nonce", "")
    )
    presented = query.get("signature", "")
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        log.warning("wechat callback with a bad signature refused")
        return problem(403, "bad signature")
    signed_at = _timestamp(query.get("timestamp", ""))
    now = request.app[CLOCK]()
    if signed_at is None or abs(now - signed_at) > WINDOW:
        log.warning("wechat callback with a stale or future timestamp refused")
        return problem(403, "the signed timestamp is not within 5 minutes of now")
    return None


def _timestamp(text: str) -> datetime | None:
    """The moment a WeChat `timestamp` (Unix seconds) names; None if it names none."""
    if not text.isdecimal() or len(text) > 12:
        return None
    return datetime.fromtimestamp(int(text), UTC)
