"""A local stand-in of the WeChat Official Account API, and of WeChat's pushes to us.

Speaks what `channels.wechat` calls: `GET /cgi-bin/token` and
`POST /cgi-bin/message/template/send`, with WeChat's HTTP-200-and-errcode answers.
Tokens behave as WeChat's do: each lives `expires_in` seconds, and a newer one leaves
the older usable for `overlap` seconds only; `expire_tokens()` (→ 42001) and
`revoke_tokens()` (→ 40001) spoil the ones handed out so far.

The one-shot controls of `StandInServer` (`respond_next`, `stall_next`) apply to the
template sends; `respond_next_token` answers the next token fetch instead.

For the other direction, `job_finished(msgid, status)` POSTs a correctly signed
`TEMPLATESENDJOBFINISH` event to `callback_url` (jiaoying's server URL), and
`forge_job_finished` the same signed with a wrong token.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections import deque
from typing import Any

from aiohttp import web

from tests.standins.base import StandInServer

TOKEN_PATH = "/cgi-bin/token"
APPID = "wx7c3ed56f7f792d84"
APPSECRET = "3f2a9c8e7d6b5a4f3e2d1c0b9a8f7e6d"
SERVER_TOKEN = "jiaoying-server-token-5b1e"
SEND_PATH = "/cgi-bin/message/template/send"


class WeChatStandIn(StandInServer):
    """The Official Account API of app `appid`, with `appsecret` and the server `token`."""

    def __init__(
        self,
        *,
        appid: str = APPID,
        appsecret: str = APPSECRET,
        token: str = SERVER_TOKEN,
        expires_in: int = 7200,
        overlap: float = 300.0,
    ) -> None:
        super().__init__()
        self.appid = appid
        self.appsecret = appsecret
        self.token = token
        self.expires_in = expires_in
        self.overlap = overlap
        self.token_delay = 0.05  # a fetch takes a moment, so concurrent senders overlap it
        self.token_fetches = 0
        self.messages: list[dict[str, Any]] = []  # accepted template messages, with "msgid"
        self.unsubscribed: set[str] = set()  # openids that answer 43004
        self.callback_url = ""  # jiaoying's server URL, as set in the account's console
        # When set, each accepted message is reported at once with this Status, racing the
        # sender's own handling of the reply (as WeChat's push can); answers in `pushes`.
        self.report_on_send: str | None = None
        self.pushes: list[tuple[int, str]] = []
        self._pushing: set[asyncio.Task[None]] = set()
        self.secrets.extend([appsecret, token])
        self._tokens: dict[str, float] = {}  # token → when it stops working (monotonic)
        self._revoked: set[str] = set()
        self._expired: set[str] = set()
        self._token_plans: deque[tuple[int, Any]] = deque()
        self._msgids = itertools.count(200228332)
        self._by_client_msg_id: dict[tuple[str, str], int] = {}
        self.app.router.add_get(TOKEN_PATH, self._token)
        self.app.router.add_post(SEND_PATH, self._send)

    # -- controls ----------------------------------------------------------------------

    def respond_next_token(self, status: int, body: Any) -> None:
        """Answer the next token fetch with this response instead of a token."""
        self._token_plans.append((status, body))

    def expire_tokens(self) -> None:
        """Every token handed out so far has expired: a send with one gets 42001."""
        self._expired.update(self._tokens)

    def revoke_tokens(self) -> None:
        """Every token handed out so far is no longer valid: a send with one gets 40001."""
        self._revoked.update(self._tokens)

    @property
    def current_token(self) -> str:
        """The newest token handed out."""
        return next(reversed(self._tokens))

    # -- WeChat's pushes to jiaoying -----------------------------------------------------

    async def job_finished(
        self, msgid: int | str, status: str = "success", *, openid: str = "oTestOpenid"
    ) -> tuple[int, str]:
        """POST a signed TEMPLATESENDJOBFINISH event; returns jiaoying's status and body."""
        return await self._push(job_finished_xml(msgid, status, openid), self.token)

    async def forge_job_finished(
        self, msgid: int | str, status: str = "success", *, openid: str = "oTestOpenid"
    ) -> tuple[int, str]:
        """The same event signed with a token that is not the account's."""
        return await self._push(job_finished_xml(msgid, status, openid), self.token + "x")

    async def push_text(self, text: str, *, openid: str) -> tuple[int, str]:
        """A signed text message the follower typed into the account."""
        xml = (
            f"<xml><ToUserName><![CDATA[gh_jiaoying]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>24637520101</MsgId></xml>"
        )
        return await self._push(xml, self.token)

    async def verify_url(self, echostr: str, *, token: str | None = None) -> tuple[int, str]:
        """WeChat's URL verification GET, signed with `token` (default: the right one)."""
        query = signed_query(token or self.token)
        async with self.http.get(self.callback_url, params={**query, "echostr": echostr}) as r:
            return r.status, await r.text()

    async def _report_now(self, msgid: int, status: str) -> None:
        self.pushes.append(await self.job_finished(msgid, status))

    async def _push(self, xml: str, token: str) -> tuple[int, str]:
        params = {**signed_query(token), "openid": "oTestOpenid"}
        async with self.http.post(
            self.callback_url,
            params=params,
            data=xml.encode(),
            headers={"Content-Type": "text/xml"},
        ) as reply:
            return reply.status, await reply.text()

    # -- the API -----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        await asyncio.sleep(self.token_delay)
        self.token_fetches += 1
        if self._token_plans:
            status, body = self._token_plans.popleft()
            return web.json_response(body, status=status)
        query = request.query
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if query.get("appid") != self.appid:
            return _error(40013, "invalid appid")
        if query.get("secret") != self.appsecret:
            return _error(40125, "invalid appsecret")
        now = time.monotonic()
        for older, ends in self._tokens.items():
            self._tokens[older] = min(ends, now + self.overlap)
        token = self.new_id("tok_", 64)
        self._tokens[token] = now + self.expires_in
        self.secrets.append(token)
        return web.json_response({"access_token": token, "expires_in": self.expires_in})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        planned = await self.intercept(request)
        if planned is not None:
            return planned
        token = request.query.get("access_token", "")
        if token not in self._tokens or token in self._revoked:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        if token in self._expired or time.monotonic() >= self._tokens[token]:
            return _error(42001, "access_token expired")
        try:
            message = recorded.json()
        except ValueError:
            return _error(47001, "data format error")
        openid = message.get("touser", "")
        if not openid.startswith("o"):
            return _error(40003, "invalid openid")
        if openid in self.unsubscribed:
            return _error(43004, "require subscribe")
        dedupe = (openid, message.get("client_msg_id", ""))
        if dedupe[1] and dedupe in self._by_client_msg_id:
            return web.json_response(
                {"errcode": 0, "errmsg": "ok", "msgid": self._by_client_msg_id[dedupe]}
            )
        msgid = next(self._msgids)
        self._by_client_msg_id[dedupe] = msgid
        self.messages.append({**message, "msgid": msgid})
        if self.report_on_send is not None:
            task = asyncio.create_task(self._report_now(msgid, self.report_on_send))
            self._pushing.add(task)
            task.add_done_callback(self._pushing.discard)
        await self.hold_answer()
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def server_error(self) -> web.Response:
        return _error(-1, "system error")

    def rate_limited(self, retry_after: float) -> web.Response:
        return _error(45011, "api minute-quota reach limit")


def signed_query(token: str) -> dict[str, str]:
    """`timestamp`, `nonce` and WeChat's `signature` of them under `token`."""
    timestamp, nonce = str(int(time.time())), str(time.monotonic_ns() % 10**9)
    joined = "".join(sorted((token, timestamp, nonce)))
    signature = hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 - WeChat's protocol
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def job_finished_xml(msgid: int | str, status: str, openid: str) -> str:
    """The XML of a TEMPLATESENDJOBFINISH event, as WeChat pushes it."""
    return (
        "<xml><ToUserName><![CDATA[gh_jiaoying]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{msgid}</MsgID><Status><![CDATA[{status}]]></Status></xml>"
    )


def _error(errcode: int, errmsg: str) -> web.Response:
    # WeChat reports errors with HTTP 200 and the code in the body.
    return web.json_response({"errcode": errcode, "errmsg": f"{errmsg} rid: 6650c5b1-1e2f"})
