"""A local stand-in for Alibaba Cloud's SMS (Dysmsapi) and voice (Dyvmsapi) APIs.

The provider's side, as Alibaba Cloud speaks it (RPC style, API version 2017-05-25):

- `POST /` with the action in `x-acs-action`, parameters in the query and the
  form-encoded body, every request signed ACS3-HMAC-SHA256 and checked against the test
  account's secret (`tests.standins.acs3`): a bad signature gets the gateway's 400/404
  JSON error, never a send.
- `SendBatchSms` (up to 100 numbers, one template, its values per number; each value
  1..35 characters), `SingleCallByTts` and `IvrCall`, answered with Alibaba Cloud's JSON
  (`{"Code": "OK", "BizId"|"CallId", "RequestId"}`), or a business refusal as HTTP 200
  with its `Code`.
- The per-number caps: 50 notification SMS a day per sign, template and number; calls
  to one callee 1 a minute, 5 an hour, 20 a day (`isv.BUSINESS_LIMIT_CONTROL`).
- Pushes to the service under test, as the console's callback URLs receive them: a JSON
  array of `SmsReport`, `SmsUp`, `VoiceReport` / `VoiceCallReport` items; an answer
  other than HTTP 200 with `{"code": 0}` is retried (after 1, 5 and 10 minutes at
  Alibaba Cloud; `retry_delays` here), and `duplicate=True` sends a push twice, as the
  documentation warns it may.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.standins.acs3 import SignatureRefused, verify_acs3
from tests.standins.base import StandInServer

__all__ = ["AliyunCall", "AliyunSms", "AliyunStandIn", "Push"]

DEFAULT_KEY_ID = "LTAI5tJiaoyingTestKey01"
DEFAULT_SECRET = "aliyun-test-secret-" + "7c" * 8
SIGN_NAME = "某县应急管理局"
MOBILE = re.compile(r"1[3-9]\d{9}")
SMS_DAY_CAP = 50
CALL_CAPS = ((60.0, 1), (3600.0, 5), (86400.0, 20))
PUSH_OK = {"code": 0, "msg": "成功"}


@dataclass
class AliyunSms:
    biz_id: str
    phone_number: str
    template_code: str
    params: dict[str, str]
    sign_name: str


@dataclass
class AliyunCall:
    call_id: str
    action: str
    called_number: str
    show_number: str
    template: str
    params: dict[str, str]
    menu: list[dict[str, str]] = field(default_factory=list)
    out_id: str = ""


@dataclass
class Push:
    """One push as the service under test answered it (the last try's answer)."""

    status: int
    body: Any
    tries: int


class AliyunStandIn(StandInServer):
    """Dysmsapi and Dyvmsapi plus their pushes; see the module doc."""

    def __init__(
        self,
        key_id: str = DEFAULT_KEY_ID,
        secret: str = DEFAULT_SECRET,
        *,
        templates: dict[str, tuple[str, ...]] | None = None,
        retry_delays: tuple[float, ...] = (0.05, 0.1, 0.2),
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.key_id = key_id
        self.secret = secret
        self.secrets = [secret]
        # Approved template code → its variables; None accepts any code.
        self.templates = templates
        self.retry_delays = retry_delays
        self.sms: list[AliyunSms] = []
        self.calls: list[AliyunCall] = []
        self.refused_signatures = 0
        self._sms_sent: dict[tuple[str, str, str], deque[float]] = defaultdict(deque)
        self._calls_made: dict[str, deque[float]] = defaultdict(deque)
        self.last_sms_at = 0.0  # wall clock of the last SMS accepted (the benchmark's end)
        self.app.router.add_post("/", self._action)
        self.app.router.add_get("/_stats", self._stats)

    # -- the API ---------------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        """Not Alibaba Cloud's: what the benchmark reads (SMS and requests so far)."""
        batches = sum(1 for r in self.requests if r.headers.get("x-acs-action") == "SendBatchSms")
        return web.json_response(
            {"sms": len(self.sms), "requests": batches, "last_sms_at": self.last_sms_at}
        )

    def server_error(self) -> web.Response:
        return self._error(
            500,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        )

    def rate_limited(self, retry_after: float) -> web.Response:
        response = self._error(
            400, "Throttling.User", "Request was denied due to user flow control."
        )
        response.headers["x-acs-retry-after"] = str(int(retry_after * 1000))
        return response

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper()},
            status=status,
        )

    def _refusal(self, code: str, message: str) -> web.Response:
        # A business refusal: HTTP 200, the code in the body.
        return self._error(200, code, message)

    async def _action(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        try:
            verify_acs3(
                method=request.method,
                path=request.path,
                query={key: request.query[key] for key in request.query},
                headers=dict(request.headers),
                body=recorded.body,
                secrets={self.key_id: self.secret},
            )
        except SignatureRefused as refused:
            self.refused_signatures += 1
            status = 404 if refused.code.startswith("InvalidAccessKeyId") else 400
            return self._error(status, refused.code, str(refused))
        planned = await self.intercept(request)
        if planned is not None:
            return planned
        params = {key: request.query[key] for key in request.query}
        params.update({key: values[-1] for key, values in recorded.form.items()})
        action = request.headers.get("x-acs-action", "")
        handler = {
            "SendBatchSms": self._send_batch_sms,
            "SingleCallByTts": self._call,
            "IvrCall": self._call,
        }.get(action)
        if handler is None:
            return self._error(
                404, "InvalidAction.NotFound", f"Specified api is not found: {action}"
            )
        response = handler(action, params)
        await self.hold_answer()
        return response

    def _template_ok(self, code: str, values: dict[str, str]) -> str | None:
        if self.templates is not None:
            if code not in self.templates:
                return "isv.SMS_TEMPLATE_ILLEGAL"
            if set(values) != set(self.templates[code]):
                return "isv.TEMPLATE_MISSING_PARAMETERS"
        if any(not 1 <= len(str(value)) <= 35 for value in values.values()):
            return "isv.PARAM_LENGTH_LIMIT"
        return None

    def _send_batch_sms(self, action: str, params: dict[str, str]) -> web.Response:
        try:
            numbers = json.loads(params["PhoneNumberJson"])
            signs = json.loads(params["SignNameJson"])
            values = json.loads(params.get("TemplateParamJson", "[]"))
            code = params["TemplateCode"]
        except (KeyError, ValueError):
            return self._refusal("isv.INVALID_PARAMETERS", "参数异常")
        if not 1 <= len(numbers) <= 100 or len(signs) != len(numbers) != len(values):
            return self._refusal("isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
        if any(sign != SIGN_NAME for sign in signs):
            return self._refusal("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法")
        for each in values:
            problem = self._template_ok(code, each)
            if problem:
                return self._refusal(problem, "模板变量不合法")
        if any(not MOBILE.fullmatch(str(number)) for number in numbers):
            return self._refusal("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        now = time.monotonic()
        for number, sign in zip(numbers, signs, strict=True):
            if _count(self._sms_sent[(sign, code, number)], now, 86400.0) >= SMS_DAY_CAP:
                return self._refusal("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:50")
        biz_id = f"{self._random.randrange(10**17, 10**18)}^0"
        for number, sign, each in zip(numbers, signs, values, strict=True):
            self._sms_sent[(sign, code, number)].append(now)
            self.sms.append(AliyunSms(biz_id, number, code, each, sign))
        self.last_sms_at = time.time()
        return web.json_response(
            {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": str(uuid.uuid4()).upper()}
        )

    def _call(self, action: str, params: dict[str, str]) -> web.Response:
        number = params.get("CalledNumber", "")
        if not MOBILE.fullmatch(number):
            return self._refusal("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        ivr = action == "IvrCall"
        template = params.get("StartCode" if ivr else "TtsCode", "")
        raw = params.get("StartTtsParams" if ivr else "TtsParam") or "{}"
        try:
            values = json.loads(raw)
        except ValueError:
            return self._refusal("isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if ivr and not params.get("CalledShowNumber"):
            return self._refusal("isv.INVALID_PARAMETERS", "IvrCall needs CalledShowNumber")
        problem = self._template_ok(template, values)
        if problem or len(raw) > 250:
            return self._refusal(problem or "isv.PARAM_LENGTH_LIMIT", "模板变量不合法")
        made = self._calls_made[number]
        now = time.monotonic()
        if any(_count(made, now, window) >= cap for window, cap in CALL_CAPS):
            return self._refusal("isv.BUSINESS_LIMIT_CONTROL", "触发流控")
        made.append(now)
        menu = _menu(params)
        call_id = f"{self._random.randrange(10**14, 10**15)}^{self._random.randrange(10**10)}"
        self.calls.append(
            AliyunCall(
                call_id,
                action,
                number,
                params.get("CalledShowNumber", ""),
                template,
                values,
                menu,
                params.get("OutId", ""),
            )
        )
        return web.json_response(
            {
                "Code": "OK",
                "Message": "OK",
                "CallId": call_id,
                "RequestId": str(uuid.uuid4()).upper(),
            }
        )

    # -- pushes ----------------------------------------------------------------------

    async def push(self, url: str, items: list[dict[str, Any]], *, duplicate: bool = False) -> Push:
        """POST `items` as Alibaba Cloud pushes them; retried while the answer is not
        `{"code": 0}`; with `duplicate`, the same push once more after it was taken."""
        result = await self._push_with_retries(url, items)
        if duplicate:
            await self._push_with_retries(url, items)
        return result

    async def _push_with_retries(self, url: str, items: list[dict[str, Any]]) -> Push:
        tries = 0
        for delay in (0.0, *self.retry_delays):
            if delay:
                await asyncio.sleep(delay)
            tries += 1
            async with self.http.post(url, json=items) as reply:
                text = await reply.text()
                try:
                    body: Any = json.loads(text)
                except ValueError:
                    body = text
            if reply.status == 200 and isinstance(body, dict) and body.get("code") == 0:
                break
        return Push(reply.status, body, tries)

    def sms_report(
        self, sms: AliyunSms, *, success: bool = True, err_code: str = "DELIVERED"
    ) -> dict[str, Any]:
        now = _stamp()
        return {
            "phone_number": sms.phone_number,
            "send_time": now,
            "report_time": now,
            "success": success,
            "err_code": err_code if not success else "DELIVERED",
            "err_msg": "用户接收成功" if success else "失败",
            "sms_size": "1",
            "biz_id": sms.biz_id,
            "out_id": "",
        }

    def sms_up(self, phone_number: str, content: str) -> dict[str, Any]:
        return {
            "phone_number": phone_number,
            "content": content,
            "send_time": _stamp(),
            "dest_code": "1069000",
            "sequence_id": self._random.randrange(10**9, 10**10),
            "sign_name": SIGN_NAME,
        }

    def voice_report(
        self, call: AliyunCall, *, answered: bool = True, dtmf: str = ""
    ) -> dict[str, Any]:
        now = _stamp()
        return {
            "call_id": call.call_id,
            "status_code": "200000" if answered else "200005",
            "status_msg": "用户听完自然挂断" if answered else "用户未接听",
            "duration": "21" if answered else "0",
            "start_time": now,
            "end_time": now,
            "out_id": call.out_id,
            "caller": call.show_number,
            "callee": call.called_number,
            "hangup_direction": "1",
            "dtmf": dtmf,
        }


def _menu(params: dict[str, str]) -> list[dict[str, str]]:
    entries: dict[str, dict[str, str]] = defaultdict(dict)
    for key, value in params.items():
        if key.startswith("MenuKeyMap."):
            _, index, name = key.split(".", 2)
            entries[index][name] = value
    return [entries[index] for index in sorted(entries, key=int)]


def _count(times: deque[float], now: float, window: float) -> int:
    return sum(1 for at in times if now - at < window)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


async def _serve(port: int) -> None:
    standin = AliyunStandIn()
    await standin.start(port)
    print(f"aliyun stand-in on {standin.url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await standin.close()


def main() -> None:
    """`python -m tests.standins.aliyun --port 9004`: the stand-in on its own (benchmark)."""
    parser = argparse.ArgumentParser(description="Alibaba Cloud SMS and voice stand-in.")
    parser.add_argument("--port", type=int, default=9004)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
