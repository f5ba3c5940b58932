"""A local stand-in of an emergency-broadcast platform's play API (docs/broadcast-api.md).

`POST /play` with the bearer token: checks the request the way a platform must
(required fields, a zone id, a 12-digit area code, times in order), treats a repeated
`ebm_id` as the same play, and answers `{"id", "state"}`. Errors come as `{"error",
"message"}`. `unknown_zones` lists zone ids it has no loudspeakers for (404
`unknown_zone`).

For the other direction, `report(key_or_id, state)` POSTs a signed play report to the
play's `callback_url` (`behind(public_url, local_url)` says where jiaoying's public URL
really leads, as the proxy in front of it would); `forge_report` signs it with the wrong
key, and `replay_report` sends a genuine report to another play's URL.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from tests.standins.base import StandInServer

PLAY_PATH = "/play"
TOKEN = "bcast-token-8d41c0a7e2f94b16"
REQUIRED = (
    "ebm_id",
    "msg_type",
    "severity",
    "event_type",
    "zone_id",
    "area_code",
    "title",
    "tts_text",
    "repeat",
    "start_time",
    "end_time",
    "callback_url",
)
STATE_WORDS = {0: "未处理", 1: "等待播发", 2: "播发中", 3: "播发成功", 4: "播发失败", 5: "播发取消"}


class BroadcastStandIn(StandInServer):
    """The platform's play API, guarded by `token`."""

    def __init__(self, *, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.plays: list[dict[str, Any]] = []  # accepted play requests, with the platform "id"
        self.unknown_zones: set[str] = set()
        self._proxied: tuple[str, str] | None = None
        self.secrets.append(token)
        self._ids = itertools.count(1)
        self.app.router.add_post(PLAY_PATH, self._play)

    def behind(self, public_url: str, local_url: str) -> None:
        """Send reports for callback URLs under `public_url` to `local_url` instead: the
        service under test runs on a local port, not at the public URL it gives."""
        self._proxied = (public_url.rstrip("/"), local_url.rstrip("/"))

    def play(self, key_or_id: str) -> dict[str, Any]:
        """The play request for jiaoying send `key_or_id` (its key), or with that platform id."""
        for play in self.plays:
            if key_or_id in (play["id"], callback_key(play["callback_url"])):
                return play
        raise KeyError(key_or_id)

    async def report(
        self, key_or_id: str, state: int | str, **fields: Any
    ) -> tuple[int, dict[str, Any]]:
        """POST a signed play report; returns jiaoying's status and JSON body."""
        play = self.play(key_or_id)
        return await self._post(play["callback_url"], _report(play, state, fields), self.token)

    async def forge_report(self, key_or_id: str, state: int | str) -> tuple[int, dict[str, Any]]:
        """The same report signed with a key that is not the platform's token."""
        play = self.play(key_or_id)
        return await self._post(play["callback_url"], _report(play, state, {}), "forged-key")

    async def replay_report(
        self, key_or_id: str, state: int | str, *, to: str
    ) -> tuple[int, dict[str, Any]]:
        """A genuine, signed report about one play, sent to the callback URL of play `to`."""
        body = _report(self.play(key_or_id), state, {})
        return await self._post(self.play(to)["callback_url"], body, self.token)

    async def _post(self, url: str, report: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        body = json.dumps(report, ensure_ascii=False).encode()
        signature = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        if self._proxied is not None and url.startswith(self._proxied[0]):
            url = self._proxied[1] + url.removeprefix(self._proxied[0])
        headers = {"Content-Type": "application/json", "X-Jiaoying-Signature": signature}
        async with self.http.post(url, data=body, headers=headers) as reply:
            return reply.status, await reply.json(content_type=None)

    async def _play(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        planned = await self.intercept(request)
        if planned is not None:
            return planned
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "a valid bearer token is required")
        try:
            body = recorded.json()
        except ValueError:
            return _error(422, "invalid_request", "the body is not JSON")
        missing = [name for name in REQUIRED if name not in body]
        if missing:
            return _error(422, "invalid_request", f"missing: {', '.join(missing)}")
        area, zone = str(body["area_code"]), str(body["zone_id"])
        if len(area) != 12 or not area.isdigit():
            return _error(422, "invalid_request", "area_code must be 12 digits")
        if not zone:
            return _error(422, "invalid_request", "zone_id is empty")
        if zone in self.unknown_zones:
            return _error(404, "unknown_zone", f"no loudspeaker group {zone}")
        if body["msg_type"] not in (1, 2) or body["start_time"] >= body["end_time"]:
            return _error(422, "invalid_request", "bad msg_type or times")
        for play in self.plays:
            if play["ebm_id"] == body["ebm_id"]:
                return web.json_response({"id": play["id"], "state": 1})
        play_id = f"EB{next(self._ids):06d}"
        self.plays.append({**body, "id": play_id})
        await self.hold_answer()
        return web.json_response({"id": play_id, "state": 1}, status=201)

    def server_error(self) -> web.Response:
        return _error(503, "unavailable", "the platform is busy")


def callback_key(callback_url: str) -> str:
    """The jiaoying send key in a play's callback URL."""
    return parse_qs(urlsplit(callback_url).query)["key"][0]


def _report(play: dict[str, Any], state: int | str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": play["id"],
        "ebm_id": play["ebm_id"],
        "state": state,
        "state_desc": STATE_WORDS.get(state, str(state)) if isinstance(state, int) else state,
        "zone_id": play["zone_id"],
        "area_code": play["area_code"],
        "report_time": datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S"),
        "coverage_rate": 0.96,
        **fields,
    }


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)
