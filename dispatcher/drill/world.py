"""The drill's world: simulated providers on one local port, and the people behind them.

It speaks what the channel adapters speak, so the drill runs the service's real path:
Twilio's REST API (`twilio_side`), WeChat's token and template API with its
TEMPLATESENDJOBFINISH push (signed with the server token, timestamped by the drill
clock), the broadcast platform's `/play` with its signed play reports, and the field
teams, who read their tasks from `GET /v1/tasks` and report them through
`POST /v1/tasks/{id}/report` as a duty officer's app would. Every answer reaches the
service through its own HTTP endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import secrets
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from yarl import URL

from dispatcher.core.roster import Roster
from dispatcher.drill.clock import DrillClock
from dispatcher.drill.people import People
from dispatcher.drill.scenario import Scenario
from dispatcher.drill.twilio_side import TwilioSide

log = structlog.get_logger("jiaoying.drill.world")

WECHAT_DELIVERY = timedelta(seconds=3)
PLAY_REPORT = timedelta(seconds=15)
TASK_POLL = 1.0  # real seconds between two looks at the open tasks
CONNECTIONS = 64  # callbacks in flight to the service at once
QUIET_GRACE = 5.0  # real seconds the callbacks on their way get at the drill's end
PLAYED, FAILED = 3, 4  # broadcast play states (channels.broadcast.PlayState)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the drill configures the service with: made up per run, local only."""

    twilio_sid: str
    twilio_token: str
    twilio_from: str
    wechat_appid: str
    wechat_secret: str
    wechat_server_token: str
    broadcast_token: str
    api_token: str

    @classmethod
    def fresh(cls) -> Credentials:
        return cls(
            twilio_sid="AC" + secrets.token_hex(16),
            twilio_token=secrets.token_hex(16),
            twilio_from="+8610690000",
            wechat_appid="wxdrill" + secrets.token_hex(5),
            wechat_secret=secrets.token_hex(16),
            wechat_server_token=secrets.token_hex(8),
            broadcast_token=secrets.token_hex(16),
            api_token=secrets.token_urlsafe(24),
        )


class World:
    def __init__(
        self,
        roster: Roster,
        scenario: Scenario,
        seed: int,
        clock: DrillClock,
        credentials: Credentials,
    ) -> None:
        self.people = People(roster, scenario, seed)
        self._roster = roster
        self._scenario = scenario
        self._clock = clock
        self._credentials = credentials
        self.counts: Counter[str] = Counter()
        self.service_url = ""
        self.app = web.Application()
        self.twilio = TwilioSide(
            self, credentials.twilio_sid, credentials.twilio_token, credentials.twilio_from
        )
        self.twilio.add_routes(self.app)
        self.app.router.add_get("/cgi-bin/token", self._wechat_token)
        self.app.router.add_post("/cgi-bin/message/template/send", self._wechat_send)
        self.app.router.add_post("/broadcast/play", self._play)
        self._access_token = secrets.token_hex(16)
        self._msgids = itertools.count(200_000_001)
        self._nonces = itertools.count(1)
        self._running: set[asyncio.Task[None]] = set()
        self._posting: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(CONNECTIONS)
        self._tasks_seen: set[int] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = False

    async def start(self, host: str = "127.0.0.1") -> str:
        """Serve on a free port; returns the base URL the service's adapters point at."""
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        self._session = aiohttp.ClientSession(connector=connector)
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://{host}:{port}"

    def attend(self, service_url: str) -> None:
        """The service is up at `service_url`: callbacks go there, field teams start."""
        self.service_url = service_url.rstrip("/")
        self._spawn(self._field_teams())

    async def quiet(self) -> None:
        """The drill is over: nobody acts any more, the callbacks on their way arrive;
        the providers keep answering the service's last sends (and drop what they say)."""
        self._stopping = True
        waiting = [task for task in self._running if task not in self._posting]
        for task in waiting:
            task.cancel()
        if self._posting:
            await asyncio.wait(set(self._posting), timeout=QUIET_GRACE)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def stop(self) -> None:
        await self.quiet()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the drill's world was not started")
        return self._session

    def count(self, what: str) -> None:
        self.counts[what] += 1

    def down(self, channel: str) -> bool:
        return self._scenario.down(channel, self._clock.elapsed())

    def later(self, delay: timedelta, action: Coroutine[Any, Any, None]) -> None:
        """Run `action` after `delay` of drill time."""
        self._spawn(self._after(self._clock.real_seconds(delay), action), action)

    def _spawn(
        self, action: Coroutine[Any, Any, None], inner: Coroutine[Any, Any, None] | None = None
    ) -> None:
        if self._stopping:
            action.close()
            if inner is not None:
                inner.close()
            return
        task = asyncio.get_running_loop().create_task(action)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        if inner is not None:
            # A task cancelled before it ran never awaited `inner`: closing it says so.
            task.add_done_callback(lambda _: inner.close())

    async def _after(self, seconds: float, action: Coroutine[Any, Any, None]) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            action.close()
            raise
        await action

    async def post(
        self, url: str, signed: Callable[[], dict[str, Any]] | None = None, **kwargs: Any
    ) -> str | None:
        """POST to the service; its answer's body, or None when it could not be reached
        (a drill winding down). A refusal is counted: it means a wrong callback.
        `signed` gives the parts signed with a timestamp, made once a connection is free:
        a provider stamps a push when it sends it, not while it waits its turn."""
        task = asyncio.current_task()
        if task is not None:
            self._posting.add(task)
        await self._slots.acquire()
        if signed is not None:
            kwargs |= signed()
        try:
            # Sent as written: the signature covers the URL the service gave, `%3A` and all.
            async with self._client().post(URL(url, encoded=True), **kwargs) as response:
                text = await response.text()
                if response.status >= 400:
                    self.count(f"refused_{response.status}")
                    log.warning("service refused a drill callback", status=response.status)
                return text
        except aiohttp.ClientError:
            self.count("unreachable_service")
            return None
        finally:
            self._slots.release()
            if task is not None:
                self._posting.discard(task)

    async def _wechat_token(self, request: web.Request) -> web.Response:
        query = request.query
        if (
            query.get("appid") != self._credentials.wechat_appid
            or query.get("secret") != self._credentials.wechat_secret
        ):
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        return web.json_response({"access_token": self._access_token, "expires_in": 7200})

    async def _wechat_send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") != self._access_token:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        message = await request.json()
        openid = str(message.get("touser", ""))
        if self.people.by_openid(openid) is None:
            return web.json_response({"errcode": 40003, "errmsg": "invalid openid"})
        msgid = next(self._msgids)
        self.count("wechat")
        self.later(WECHAT_DELIVERY, self._wechat_delivered(msgid, openid, message.get("url")))
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def _wechat_delivered(self, msgid: int, openid: str, url: object) -> None:
        ok = not self.down("wechat")
        status = "success" if ok else "failed:system failed"
        stamp = str(int(self._clock().timestamp()))
        body = (
            f"<xml><ToUserName><![CDATA[gh_drill]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{stamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msgid}</MsgID>"
            f"<Status><![CDATA[{status}]]></Status></xml>"
        )
        await self.post(
            f"{self.service_url}/callbacks/wechat",
            signed=self._wechat_query,
            data=body.encode(),
            headers={"Content-Type": "text/xml"},
        )
        person = self.people.by_openid(openid)
        if not ok or person is None or not isinstance(url, str):
            return
        answer = self.people.answer(person, "wechat", self.twilio.nth(person.id, "wechat"))
        if answer.after is not None:
            self.later(answer.after, self._open_link(url))

    def _wechat_query(self) -> dict[str, Any]:
        """WeChat's signed query: the server token, a timestamp and a nonce (SHA-1)."""
        stamp = str(int(self._clock().timestamp()))
        nonce = str(next(self._nonces))
        parts = sorted((self._credentials.wechat_server_token, stamp, nonce))
        signature = hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324 - WeChat's
        return {"params": {"signature": signature, "timestamp": stamp, "nonce": nonce}}

    async def _open_link(self, url: str) -> None:
        self.count("wechat_answers")
        await self.post(url)  # 收到 on the answer page

    async def _play(self, request: web.Request) -> web.Response:
        expected = f"Bearer {self._credentials.broadcast_token}"
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return web.json_response({"error": "unauthorized", "message": "bad token"}, status=401)
        play = await request.json()
        self.count("plays")
        zone = str(play.get("zone_id") or play.get("area_code", ""))
        if zone in self._scenario.broadcast_refused:
            # The platform no longer knows the zone (terminals taken off its books).
            self.count("plays_refused")
            message = {"error": "unknown_zone", "message": "no such broadcast zone"}
            return web.json_response(message, status=404)
        play_id = f"play-{next(self._msgids)}"
        self.later(PLAY_REPORT, self._play_report(play_id, play))
        return web.json_response({"id": play_id, "state": 1})

    async def _play_report(self, play_id: str, play: dict[str, Any]) -> None:
        zone = str(play.get("zone_id") or play.get("area_code", ""))
        failed = zone in self._scenario.broadcast_failures or self.down("broadcast")
        self.count("plays_failed" if failed else "plays_played")
        report = {
            "id": play_id,
            "ebm_id": play.get("ebm_id"),
            "state": FAILED if failed else PLAYED,
            "state_desc": "终端离线" if failed else "播发成功",
            "area_code": zone,
            "report_time": self._clock().strftime("%Y-%m-%d %H:%M:%S"),
            "coverage_rate": 0.0 if failed else 0.97,
        }
        body = json.dumps(report, ensure_ascii=False).encode()
        digest = hmac.new(self._credentials.broadcast_token.encode(), body, hashlib.sha256)
        await self.post(
            str(play.get("callback_url", "")),
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Jiaoying-Signature": f"sha256={digest.hexdigest()}",
            },
        )

    async def _field_teams(self) -> None:
        """Read the open field tasks as the teams' app does, and report each when done."""
        headers = {"Authorization": f"Bearer {self._credentials.api_token}"}
        while not self._stopping:
            cursor: str | None = None
            with contextlib.suppress(aiohttp.ClientError, ValueError):
                while True:  # every page of the open tasks
                    params = {"status": "open", "limit": "200"}
                    if cursor:
                        params["cursor"] = cursor
                    async with self._client().get(
                        f"{self.service_url}/v1/tasks", params=params, headers=headers
                    ) as response:
                        listed = await response.json()
                    for task in listed.get("tasks", []):
                        if task["id"] not in self._tasks_seen:
                            self._tasks_seen.add(task["id"])
                            self._assigned(task)
                    cursor = listed.get("next")
                    if not cursor:
                        break
            await asyncio.sleep(TASK_POLL)

    def _assigned(self, task: dict[str, Any]) -> None:
        kind = str(task["kind"])
        self.count(f"tasks_{kind}")
        after = self.people.task_report_after(kind, f"{kind}:{task['occasion']}")
        grids = [g.get("code") for g in task.get("grids", [])]
        households = sum(self._roster.grids[c].households for c in grids if c in self._roster.grids)
        if kind == "gong":
            report: dict[str, Any] = {"note": "演练：已鸣锣吹哨，沿村巡回通知"}
        else:
            report = {
                "households_reached": households,
                "people_moved": 0,
                "note": "演练：已逐户敲门告知",
            }
        self.later(after, self._report(int(task["id"]), report))

    async def _report(self, task_id: int, report: dict[str, Any]) -> None:
        self.count("task_reports")
        await self.post(
            f"{self.service_url}/v1/tasks/{task_id}/report",
            json=report,
            headers={"Authorization": f"Bearer {self._credentials.api_token}"},
        )
