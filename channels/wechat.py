"""WeChat Official Account template messages (公众号模板消息).

One notice is one `POST {api_base}/cgi-bin/message/template/send?access_token=…` to the
person's openid. WeChat answers every call with HTTP 200 and an `errcode` body
(`{"errcode":0,"errmsg":"ok","msgid":200228332}` on success); the pure `classify` of
`channels.wechat_errcodes` turns any other answer into a typed failure. The access token
comes from the account's one shared cache (`channels.wechat_token.AccessTokens`); when
WeChat says it is stale (40001/40014/42001) the send refreshes it and tries exactly once
more.

Delivery is reported later, to jiaoying's server URL, as the `TEMPLATESENDJOBFINISH`
event carrying the `msgid` returned here (`dispatcher.http.wechat_callbacks`). Being
delivered is never an answer: the person answers by opening the message, whose `url` is
their signed answer page, and pressing 收到 there.

The template. Since May 2023 WeChat no longer shows a template's `first` and `remark`
lines, and shows at most 20 characters of each keyword, on one line. So the keywords
carry what must be seen at a glance, and the full text is on the answer page:

- `keyword1` 预警事件: the notice title (the event, with 【演练】 for a drill);
- `keyword2` 预警级别: 红色/橙色/黄色/蓝色预警, or 预警取消/预警解除;
- `keyword3` 发布时间: when this message was sent, Beijing time, `YYYY-MM-DD HH:MM`;
- `first` (the title) and `remark` (the whole notice text) are still sent, for
  accounts and clients that show them.

Pick a template from the 类目模板库 with these three keywords and set its id as
`JIAOYING_WECHAT_TEMPLATE_ID`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import structlog

from channels.base import (
    Notice,
    PermanentDeliveryError,
    Reason,
    Receipt,
    Status,
)
from channels.http_json import DEFAULT_TIMEOUT, JsonReply, post_json
from channels.wechat_errcodes import TOKEN_ERRCODES, classify
from channels.wechat_token import AccessTokens

log = structlog.get_logger("jiaoying.channels.wechat")

BEIJING = timezone(timedelta(hours=8), "CST")
_KEYWORD_CHARS = 20
_CLIENT_MSG_ID_CHARS = 32

_LEVEL_WORDS = {"red": "红色预警", "orange": "橙色预警", "yellow": "黄色预警", "blue": "蓝色预警"}
_KIND_WORDS = {"cancel": "预警取消", "clear": "预警解除"}


def template_message(notice: Notice, template_id: str, sent_at: datetime) -> dict[str, Any]:
    """The JSON body of the template-message request for `notice` (see the module doc)."""
    level = _KIND_WORDS.get(notice.kind) or _LEVEL_WORDS.get(notice.level, "预警")
    message: dict[str, Any] = {
        "touser": notice.address,
        "template_id": template_id,
        "client_msg_id": client_msg_id(notice.key),
        "data": {
            "first": {"value": notice.title},
            "keyword1": {"value": _keyword(notice.title or notice.text)},
            "keyword2": {"value": level},
            "keyword3": {"value": sent_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")},
            "remark": {"value": notice.text},
        },
    }
    if notice.answer_url:
        message["url"] = notice.answer_url
    return message


def client_msg_id(key: str) -> str:
    """WeChat's dedupe id for a send: the key itself, or a digest of an overlong key.

    The same openid and client_msg_id within ten minutes is delivered once, so a send
    retried after a timeout whose first attempt got through does not arrive twice.
    """
    if len(key) <= _CLIENT_MSG_ID_CHARS and key.isascii():
        return key
    return hashlib.sha256(key.encode()).hexdigest()[:_CLIENT_MSG_ID_CHARS]


def _keyword(value: str) -> str:
    # WeChat drops line breaks and cuts a keyword at 20 characters; cut it ourselves so
    # the reader sees a deliberate "…" rather than a word broken off.
    flat = " ".join(value.split())
    return flat if len(flat) <= _KEYWORD_CHARS else flat[: _KEYWORD_CHARS - 1] + "…"


class WeChatTemplate:
    """The `wechat` channel: a template message to the person's openid.

    `tokens` is the account's shared access-token cache; `session` the service's
    shared HTTP client. Raises `TransientDeliveryError` / `PermanentDeliveryError`.
    """

    name = "wechat"
    simulated = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: AccessTokens,
        *,
        template_id: str,
        api_base: str = "https://api.weixin.qq.com",
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session = session
        self._tokens = tokens
        self._template_id = template_id
        self._url = f"{api_base.rstrip('/')}/cgi-bin/message/template/send"
        self._timeout = timeout
        self._clock = clock

    async def send(self, notice: Notice) -> Receipt:
        """Send the template message; the receipt's id is WeChat's `msgid`."""
        if not notice.address:
            raise PermanentDeliveryError(Reason.NO_ADDRESS, "no openid")
        message = template_message(notice, self._template_id, self._clock())
        token = await self._tokens.get()
        reply = await self._post(token, message)
        if reply.status == 200 and _errcode(reply.body) in TOKEN_ERRCODES:
            log.info("wechat access token refused; refreshing once", key=notice.key)
            token = await self._tokens.invalidate(token)
            reply = await self._post(token, message)
        status, body, errcode = reply.status, reply.body, _errcode(reply.body)
        msgid = body.get("msgid") if isinstance(body, dict) else None
        if status == 200 and errcode in (0, None) and msgid is not None:
            log.debug("wechat template message accepted", key=notice.key, msgid=str(msgid))
            return Receipt(str(msgid), Status.ACCEPTED)
        errmsg = str(body.get("errmsg", "")) if isinstance(body, dict) else ""
        # errmsg is WeChat's prose; it has no business quoting the token, but make sure.
        raise classify(
            status,
            errcode,
            errmsg=errmsg.replace(token, "[redacted]"),
            retry_after=reply.retry_after,
        )

    async def _post(self, token: str, message: dict[str, Any]) -> JsonReply:
        return await post_json(
            self._session,
            self._url,
            message,
            provider="WeChat",
            client_timeout=self._timeout,
            params={"access_token": token},
        )


def _errcode(body: Any) -> int | None:
    errcode = body.get("errcode") if isinstance(body, dict) else None
    return errcode if isinstance(errcode, int) else None
