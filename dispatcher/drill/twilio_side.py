"""The drill's Twilio: the Messages and Calls API the adapters call, and what the
simulated people make Twilio report back, signed as Twilio signs (`X-Twilio-Signature`).

SMS: 201 queued, then a status callback (delivered; undelivered 30005 for a wrong
number, 30003 for a switched-off one or while the scenario has SMS down), then maybe the
person's reply "1" to jiaoying's number. Calls: 201 queued, then after ringing either
`failed` (wrong number), `no-answer` (switched off, the line down, nobody picks up) or a
picked-up call: the TwiML fetched from the service, key 1 pressed on its Gather, and
`completed`.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import re
from datetime import timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from twilio.request_validator import RequestValidator

from dispatcher.drill.people import Line

if TYPE_CHECKING:
    from dispatcher.drill.world import World

API = "/2010-04-01/Accounts/{sid}"
RING = timedelta(seconds=8)
RING_TIMEOUT = timedelta(seconds=60)  # Twilio's default `Timeout`: then `no-answer`
MESSAGE_PLAYED = timedelta(seconds=20)
SMS_DELIVERY = timedelta(seconds=4)
_ACTION = re.compile(r'<Gather[^>]*\baction="([^"]+)"')


class TwilioSide:
    def __init__(self, world: World, account_sid: str, auth_token: str, number: str) -> None:
        self._world = world
        self._sid = account_sid
        self._auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._validator = RequestValidator(auth_token)
        self.number = number
        self._serial = itertools.count(1)
        self._nth: dict[tuple[str, str], int] = {}

    def add_routes(self, app: web.Application) -> None:
        base = API.format(sid=self._sid)
        app.router.add_post(f"{base}/Messages.json", self._message)
        app.router.add_post(f"{base}/Calls.json", self._call)

    def _next_sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._serial):032x}"

    def _refused(self, request: web.Request) -> web.Response | None:
        if not hmac.compare_digest(request.headers.get("Authorization", ""), self._auth):
            return _error(401, 20003, "Authenticate")
        return None

    def nth(self, person_id: str, channel: str) -> int:
        key = (person_id, channel)
        self._nth[key] = n = self._nth.get(key, -1) + 1
        return n

    async def _message(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        form = await request.post()
        to, body, callback = str(form.get("To", "")), form.get("Body"), form.get("StatusCallback")
        if not to.startswith("+") or not body:
            return _error(400, 21211, "The 'To' number is not a valid phone number.")
        sid = self._next_sid("SM")
        self._world.count("sms")
        self._world.later(SMS_DELIVERY, self._deliver_sms(sid, to, str(callback or "")))
        return web.json_response(
            _resource(sid, self._sid, to, self.number, status="queued", body=str(body)),
            status=201,
        )

    async def _deliver_sms(self, sid: str, to: str, callback: str) -> None:
        world = self._world
        person = world.people.by_phone(to)
        line = world.people.line(person) if person else Line.WRONG
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": self._sid, "To": to}
        if line is Line.WRONG:
            status, code = "undelivered", "30005"
        elif line is Line.SWITCHED_OFF or world.down("sms"):
            status, code = "undelivered", "30003"
        else:
            status, code = "delivered", ""
        form |= {"MessageStatus": status, "SmsStatus": status, "From": self.number}
        if code:
            form["ErrorCode"] = code
        if callback:
            await self.post_signed(callback, form)
        if status != "delivered" or person is None:
            world.count("sms_not_delivered")
            return
        answer = world.people.answer(person, "sms", self.nth(person.id, "sms"))
        if answer.after is not None:
            world.later(answer.after, self._reply(to))

    async def _reply(self, phone: str) -> None:
        sid = self._next_sid("SM")
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self._sid,
            "From": phone,
            "To": self.number,
            "Body": "1",
            "NumMedia": "0",
        }
        self._world.count("sms_answers")
        await self.post_signed(self._world.service_url + "/callbacks/twilio/sms", form)

    async def _call(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        form = await request.post()
        to = str(form.get("To", ""))
        if not to.startswith("+"):
            return _error(400, 21217, "Phone number is not a valid phone number.")
        sid = self._next_sid("CA")
        self._world.count("calls")
        urls = {name: str(form.get(name, "")) for name in ("Url", "StatusCallback")}
        self._world.later(RING, self._ring(sid, to, urls["Url"], urls["StatusCallback"]))
        return web.json_response(
            _resource(sid, self._sid, to, self.number, status="queued"), status=201
        )

    async def _ring(self, sid: str, to: str, url: str, status_url: str) -> None:
        world = self._world
        person = world.people.by_phone(to)
        line = world.people.line(person) if person else Line.WRONG
        call = {"CallSid": sid, "AccountSid": self._sid, "From": self.number, "To": to}
        if line is Line.WRONG:
            await self.post_signed(status_url, call | {"CallStatus": "failed"})
            world.count("calls_not_answered")
            return
        answer = None
        if person is not None and line is Line.OK and not world.down("voice"):
            answer = world.people.answer(person, "voice", self.nth(person.id, "voice")).after
        if answer is None or answer > RING_TIMEOUT:
            world.later(RING_TIMEOUT, self._status(status_url, call, "no-answer"))
            world.count("calls_not_answered")
            return
        world.later(answer, self._pick_up(call, url, status_url))

    async def _status(self, url: str, call: dict[str, str], status: str) -> None:
        await self.post_signed(url, call | {"CallStatus": status})

    async def _pick_up(self, call: dict[str, str], url: str, status_url: str) -> None:
        twiml = await self.post_signed(url, call | {"CallStatus": "in-progress"})
        found = _ACTION.search(twiml or "")
        if found is None:
            return
        action = found.group(1).replace("&amp;", "&")
        self._world.later(MESSAGE_PLAYED, self._press_one(call, action, status_url))

    async def _press_one(self, call: dict[str, str], action: str, status_url: str) -> None:
        self._world.count("call_answers")
        gathered = call | {"CallStatus": "in-progress", "Digits": "1", "AnsweredBy": "human"}
        await self.post_signed(action, gathered)
        await self.post_signed(status_url, call | {"CallStatus": "completed", "CallDuration": "35"})

    async def post_signed(self, url: str, form: dict[str, str]) -> str | None:
        """POST `form` to the service as Twilio does, signed; the body of its answer."""
        if not url:
            return None
        signature = self._validator.compute_signature(url, form)
        return await self._world.post(url, data=form, headers={"X-Twilio-Signature": signature})


def _resource(sid: str, account: str, to: str, from_: str, **extra: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    now = format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "sid": sid,
        "account_sid": account,
        "to": to,
        "from": from_,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        **extra,
    }


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )
