"""A local stand-in for Tencent Cloud's SMS (2021-01-11) and voice messages (VMS
2020-09-02) APIs.

The provider's side, as Tencent Cloud speaks it:

- `POST /` with a JSON body, the action in `X-TC-Action`, every request signed
  TC3-HMAC-SHA256 and checked against the test account's key (`tests.standins.tc3`);
  answers are `{"Response": {..., "RequestId"}}` with `Content-Type: application/json`,
  an error as `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}` (HTTP 200).
- `SendSms` (up to 200 numbers, one template and one value list; per number a status
  in `SendStatusSet`) and `SendTtsVoice` (`SendStatus.CallId`).
- Caps: SMS to one number `sms_daily_cap` a day, the same content once per 30 s; calls
  to one callee 1 per 30 s, 2 per 10 min, 3 a day.
- Pushes: SMS status (a JSON array, answer `{"result": 0}`, retried twice), SMS replies
  (one object), call results and key presses (`voiceprompt_callback`,
  `voicekey_callback`); `duplicate=True` pushes twice.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.standins.base import StandInServer
from tests.standins.tc3 import SignatureRefused, verify_tc3

__all__ = ["TencentCall", "TencentSmsSent", "TencentStandIn"]

DEFAULT_ID = "AKIDjiaoyingTestSecretId01"
DEFAULT_KEY = "tencent-test-key-" + "3b" * 8
SMS_APP_ID = "1400787878"
VMS_APP_ID = "1400888888"
SIGN_NAME = "某县应急管理局"
E164_CN = re.compile(r"\+861[3-9]\d{9}")
CALL_CAPS = ((30.0, 1), (600.0, 2), (86400.0, 3))


@dataclass
class TencentSmsSent:
    serial_no: str
    phone_number: str
    template_id: str
    params: list[str]


@dataclass
class TencentCall:
    call_id: str
    called_number: str
    template_id: str
    params: list[str]


class TencentStandIn(StandInServer):
    def __init__(
        self,
        secret_id: str = DEFAULT_ID,
        secret_key: str = DEFAULT_KEY,
        *,
        templates: dict[str, int] | None = None,
        sms_daily_cap: int = 10,
        retry_delays: tuple[float, ...] = (0.05, 0.1),
        seed: int | None = None,
    ) -> None:
        super().__init__(seed=seed)
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.secrets = [secret_key]
        self.templates = templates  # template id → how many values it takes
        self.sms_daily_cap = sms_daily_cap
        self.retry_delays = retry_delays
        self.sms: list[TencentSmsSent] = []
        self.calls: list[TencentCall] = []
        self.refused_signatures = 0
        self._sms_sent: dict[str, deque[tuple[float, str]]] = defaultdict(deque)
        self._calls_made: dict[str, deque[float]] = defaultdict(deque)
        self.app.router.add_post("/", self._action)

    def _answer(
        self, response: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        response.setdefault("RequestId", str(uuid.uuid4()))
        return web.Response(
            body=json.dumps({"Response": response}, ensure_ascii=False).encode(),
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def _error(self, code: str, message: str) -> web.Response:
        return self._answer({"Error": {"Code": code, "Message": message}})

    def server_error(self) -> web.Response:
        return web.Response(status=503, text="service unavailable")

    def rate_limited(self, retry_after: float) -> web.Response:
        return web.Response(
            status=429, text="too many requests", headers={"Retry-After": str(int(retry_after))}
        )

    async def _action(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        action = request.headers.get("X-TC-Action", "")
        service = {"SendSms": "sms", "SendTtsVoice": "vms"}.get(action, "")
        try:
            verify_tc3(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers=dict(request.headers),
                body=recorded.body,
                service=service,
                secrets={self.secret_id: self.secret_key},
            )
        except SignatureRefused as refused:
            self.refused_signatures += 1
            return self._error(refused.code, str(refused))
        planned = await self.intercept(request)
        if planned is not None:
            return planned
        try:
            params = json.loads(recorded.body)
        except ValueError:
            return self._error("InvalidParameter", "the body is not JSON")
        response = self._send_sms(params) if action == "SendSms" else self._send_voice(params)
        await self.hold_answer()
        return response

    def _template_problem(self, template_id: str, values: list[str]) -> str | None:
        if self.templates is not None and self.templates.get(template_id) != len(values):
            return "FailedOperation.TemplateIncorrectOrUnapproved"
        if any(not value for value in values):
            return "InvalidParameterValue.TemplateParameterFormatError"
        return None

    def _send_sms(self, params: dict[str, Any]) -> web.Response:
        numbers = params.get("PhoneNumberSet") or []
        if params.get("SmsSdkAppId") != SMS_APP_ID:
            return self._error("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SdkAppId")
        if params.get("SignName") != SIGN_NAME:
            return self._error("FailedOperation.SignatureIncorrectOrUnapproved", "sign")
        if not 1 <= len(numbers) <= 200:
            return self._error("LimitExceeded.PhoneNumberCountLimit", "at most 200 numbers")
        values = [str(value) for value in params.get("TemplateParamSet") or []]
        problem = self._template_problem(str(params.get("TemplateId")), values)
        if problem:
            return self._error(problem, "template")
        now = time.monotonic()
        content = json.dumps([params.get("TemplateId"), values], ensure_ascii=False)
        statuses = []
        for number in numbers:
            sent = self._sms_sent[number]
            code, message = "Ok", "send success"
            if not E164_CN.fullmatch(number):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "number"
            elif sum(1 for at, _ in sent if now - at < 86400) >= self.sms_daily_cap:
                code, message = "LimitExceeded.PhoneNumberDailyLimit", "daily limit"
            elif any(now - at < 30 and text == content for at, text in sent):
                code, message = "LimitExceeded.PhoneNumberThirtySecondLimit", "30 s limit"
            serial = ""
            if code == "Ok":
                serial = f"{self._random.randrange(10**9)}:{uuid.uuid4().hex[:24]}"
                sent.append((now, content))
                self.sms.append(
                    TencentSmsSent(serial, number, str(params.get("TemplateId")), values)
                )
            statuses.append(
                {
                    "SerialNo": serial,
                    "PhoneNumber": number,
                    "Fee": 1 if serial else 0,
                    "SessionContext": "",
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            )
        return self._answer({"SendStatusSet": statuses})

    def _send_voice(self, params: dict[str, Any]) -> web.Response:
        number = str(params.get("CalledNumber") or "")
        if params.get("VoiceSdkAppid") != VMS_APP_ID:
            return self._error("UnauthorizedOperation.SdkAppIdVerifyFail", "SdkAppId")
        if not E164_CN.fullmatch(number):
            return self._error("InvalidParameterValue.IncorrectPhoneNumber", "number")
        values = [str(value) for value in params.get("TemplateParamSet") or []]
        problem = self._template_problem(str(params.get("TemplateId")), values)
        if problem:
            return self._error(problem, "template")
        made = self._calls_made[number]
        now = time.monotonic()
        if any(sum(1 for at in made if now - at < window) >= cap for window, cap in CALL_CAPS):
            return self._error("LimitExceeded.DeliveryFrequencyLimit", "frequency limit")
        made.append(now)
        call_id = str(uuid.uuid4())
        self.calls.append(TencentCall(call_id, number, str(params.get("TemplateId")), values))
        return self._answer({"SendStatus": {"CallId": call_id, "SessionContext": ""}})

    # -- pushes ----------------------------------------------------------------------

    async def push(self, url: str, body: Any, *, duplicate: bool = False) -> tuple[int, Any, int]:
        result = await self._push(url, body)
        if duplicate:
            await self._push(url, body)
        return result

    async def _push(self, url: str, body: Any) -> tuple[int, Any, int]:
        tries = 0
        answer: Any = None
        status = 0
        for delay in (0.0, *self.retry_delays):
            if delay:
                await asyncio.sleep(delay)
            tries += 1
            async with self.http.post(url, json=body) as reply:
                status, text = reply.status, await reply.text()
            try:
                answer = json.loads(text)
            except ValueError:
                answer = text
            if status == 200 and isinstance(answer, dict) and answer.get("result") == 0:
                break
        return status, answer, tries

    @staticmethod
    def sms_status(sms: TencentSmsSent, *, success: bool = True) -> dict[str, Any]:
        return {
            "user_receive_time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "nationcode": "86",
            "mobile": sms.phone_number.removeprefix("+86"),
            "report_status": "SUCCESS" if success else "FAIL",
            "errmsg": "DELIVRD" if success else "MK:0001",
            "description": "用户短信送达成功" if success else "空号",
            "sid": sms.serial_no,
        }

    @staticmethod
    def sms_reply(phone_number: str, text: str) -> dict[str, Any]:
        return {
            "extend": "",
            "mobile": phone_number.removeprefix("+86"),
            "nationcode": "86",
            "sign": SIGN_NAME,
            "text": text,
            "time": int(time.time()),
        }

    @staticmethod
    def call_result(call: TencentCall, *, answered: bool = True) -> dict[str, Any]:
        now = int(time.time())
        return {
            "voiceprompt_callback": {
                "result": "0" if answered else "1",
                "accept_time": str(now),
                "call_from": "",
                "callid": call.call_id,
                "end_calltime": str(now + 20),
                "fee": "1",
                "mobile": call.called_number.removeprefix("+86"),
                "nationcode": "86",
                "start_calltime": str(now),
            }
        }

    @staticmethod
    def key_press(call: TencentCall, keypress: str) -> dict[str, Any]:
        return {
            "voicekey_callback": {
                "call_from": "",
                "callid": call.call_id,
                "keypress": keypress,
                "mobile": call.called_number.removeprefix("+86"),
                "nationcode": "86",
            }
        }
