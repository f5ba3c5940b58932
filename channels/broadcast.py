"""Emergency broadcast (应急广播): play requests to an IP broadcast platform.

The platform (a county 应急广播 system, or the adapter in front of it) takes a small
JSON API that carries the message fields of GD/J 082-2018 / GY/T 385-2023 (the EBM's
MsgType, Severity, EventType, AreaCode, StartTime, EndTime, MsgTitle, MsgDesc); it
builds and signs the EBM itself. docs/broadcast-api.md is the vendor's copy of this.

Request, one per loudspeaker zone:

    POST {JIAOYING_BROADCAST_URL}/play
    Authorization: Bearer {JIAOYING_BROADCAST_TOKEN}
    {"ebm_id": "3f9c…" (32 hex, stable per send: a repeat is the same play),
     "warning_id": "…", "msg_type": 1 play | 2 cancel,
     "severity": 1 red, 2 orange, 3 yellow, 4 blue, 0 unknown, 15 drill (GD/J "test"),
     "event_type": "11B00" (or the notice's `event_type` extra),
     "zone_id": "441523100201" (the loudspeaker group, as the roster names it),
     "area_code": "441523100201" (the 12-digit division code its grids lie in),
     "title": "…", "tts_text": "…", "repeat": 3,
     "start_time": "2026-07-20 02:00:05", "end_time": "2026-07-20 08:00:00" (Beijing),
     "callback_url": "{JIAOYING_PUBLIC_URL}/callbacks/broadcast?key=…"}

The zone id is the platform's own name for a loudspeaker group: a 12-digit village
code, a longer GD/J 080 resource code, or an id of its own; it is sent as given. The
area code is the notice's `area_code` extra (the EBM's AreaCode).

`msg_type` 2 (for a cancel or clear notice) stops what is still playing for the same
`warning_id` in that zone, then reads `tts_text` (the 取消/解除 announcement).

Answer: 2xx `{"id": "<platform play id>", "state": 1}` (states as in `PlayState`);
errors as `{"error": "<code>", "message": "…"}` with 401/403 bad token, 404
`unknown_zone` (or `unknown_area`), 422 invalid request, 429 with `Retry-After`
seconds, 5xx trouble.

Play reports come back to `callback_url`, signed, as described in
`dispatcher.http.broadcast_callbacks`. A report says the loudspeakers played; it is
never a person's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from channels.base import (
    DeliveryError,
    Notice,
    PermanentDeliveryError,
    Reason,
    Receipt,
    Status,
    http_failure,
)
from channels.http_json import DEFAULT_TIMEOUT, JsonReply, post_json

log = structlog.get_logger("jiaoying.channels.broadcast")

DEFAULT_EVENT_TYPE = "11B00"
DEFAULT_REPEAT = 3
DEFAULT_DURATION = timedelta(hours=2)
"""How long a play lasts when the warning gives no expiry."""
BEIJING = timezone(timedelta(hours=8), "CST")

MSG_PLAY = 1
MSG_CANCEL = 2
SEVERITY = {"red": 1, "orange": 2, "yellow": 3, "blue": 4}
SEVERITY_UNKNOWN = 0
SEVERITY_TEST = 15
_CANCEL_KINDS = frozenset({"cancel", "clear"})
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class PlayState(IntEnum):
    """The platform's play state (BrdStateCode, as comtom and GY/T 384 platforms number it)."""

    UNPROCESSED = 0  # 未处理
    WAITING = 1  # 等待播发
    PLAYING = 2  # 播发中
    PLAYED = 3  # 播发成功
    FAILED = 4  # 播发失败
    CANCELLED = 5  # 播发取消


_STATE_WORDS = {
    "未处理": PlayState.UNPROCESSED,
    "等待播发": PlayState.WAITING,
    "播发中": PlayState.PLAYING,
    "播发成功": PlayState.PLAYED,
    "播发失败": PlayState.FAILED,
    "播发取消": PlayState.CANCELLED,
}


def play_state(value: object) -> PlayState | None:
    """The state a report names, as a number (`3`, `"3"`) or in words (`"播发成功"`)."""
    if isinstance(value, str):
        word = value.strip()
        if word in _STATE_WORDS:
            return _STATE_WORDS[word]
        value = int(word) if word.isdigit() else None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return PlayState(value)
        except ValueError:
            return None
    return None


def ebm_id_for(key: str) -> str:
    """jiaoying's reference for the play of send `key`: 32 hex digits, the same every time.

    The platform treats a repeated `ebm_id` as the same play, so a request retried after
    a timeout never plays twice; a play report names it, binding the report to its send.
    """
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def play_request(notice: Notice, *, now: datetime, public_url: str) -> dict[str, Any]:
    """The JSON body of the play request for `notice` (see the module doc)."""
    try:
        repeat = max(1, int(notice.extra.get("repeat", DEFAULT_REPEAT)))
    except ValueError:
        repeat = DEFAULT_REPEAT
    end = notice.valid_until or now + DEFAULT_DURATION
    severity = SEVERITY_TEST if notice.drill else SEVERITY.get(notice.level, SEVERITY_UNKNOWN)
    callback_url = f"{public_url.rstrip('/')}/callbacks/broadcast?key={quote(notice.key, safe='')}"
    return {
        "ebm_id": ebm_id_for(notice.key),
        "warning_id": notice.warning_id,
        "msg_type": MSG_CANCEL if notice.kind in _CANCEL_KINDS else MSG_PLAY,
        "severity": severity,
        "event_type": notice.extra.get("event_type", DEFAULT_EVENT_TYPE),
        "zone_id": notice.address,
        "area_code": notice.extra.get("area_code", ""),
        "title": notice.title,
        "tts_text": notice.text,
        "repeat": repeat,
        "start_time": now.astimezone(BEIJING).strftime(_TIME_FORMAT),
        "end_time": end.astimezone(BEIJING).strftime(_TIME_FORMAT),
        "callback_url": callback_url,
    }


def classify(
    http_status: int,
    error: str | None = None,
    *,
    message: str = "",
    retry_after: float | None = None,
) -> DeliveryError:
    """The typed failure for a platform answer that is not 2xx.

    `error` is the body's `error` code (None when there was none); `retry_after` the
    seconds of a `Retry-After` header.
    """
    detail = f"HTTP {http_status}" + (f" {error}" if error else "")
    if message:
        detail = f"{detail}: {message[:160]}"
    failure = http_failure(http_status, detail, retry_after)
    if failure is not None:
        return failure
    if error in ("unknown_zone", "unknown_area"):
        return PermanentDeliveryError(Reason.INVALID_ADDRESS, detail)
    return PermanentDeliveryError(Reason.CLIENT_ERROR, detail)


class Broadcast:
    """The `broadcast` channel: one play request per zone; the receipt's id is the platform's.

    Raises `TransientDeliveryError` / `PermanentDeliveryError`.
    """

    name = "broadcast"
    simulated = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        url: str,
        token: str,
        public_url: str,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session = session
        self._url = f"{url.rstrip('/')}/play"
        self._token = token
        self._public_url = public_url
        self._timeout = timeout
        self._clock = clock

    async def send(self, notice: Notice) -> Receipt:
        """Ask the platform to play `notice` in its zone (`notice.address`, the zone id)."""
        area = notice.extra.get("area_code", "")
        if not (len(area) == 12 and area.isdigit()):
            raise PermanentDeliveryError(
                Reason.INVALID_ADDRESS,
                f"zone {notice.address} has no 12-digit area code (the EBM's AreaCode)",
            )
        now = self._clock()
        # A play must end after it starts; past its warning's expiry there is nothing
        # left to play (a platform would refuse the times anyway).
        if notice.valid_until is not None and notice.valid_until <= now:
            raise PermanentDeliveryError(Reason.CLIENT_ERROR, "the warning expired before playing")
        body = play_request(notice, now=now, public_url=self._public_url)
        answer = await self._post(body)
        status, reply = answer.status, answer.body
        if 200 <= status < 300:
            play_id = reply.get("id") if isinstance(reply, dict) else None
            state = play_state(reply.get("state")) if isinstance(reply, dict) else None
            # A 2xx is the platform's acceptance, id or not; its reports find the send
            # by the key in their callback URL.
            provider_id = str(play_id) if play_id not in (None, "") else body["ebm_id"]
            log.debug(
                "broadcast play accepted", key=notice.key, zone=notice.address, play=provider_id
            )
            delivered = state is PlayState.PLAYED
            return Receipt(provider_id, Status.DELIVERED if delivered else Status.ACCEPTED)
        error = reply.get("error") if isinstance(reply, dict) else None
        message = reply.get("message") if isinstance(reply, dict) else None
        raise classify(
            status,
            error if isinstance(error, str) else None,
            message=message.replace(self._token, "[redacted]") if isinstance(message, str) else "",
            retry_after=answer.retry_after,
        )

    async def _post(self, body: dict[str, Any]) -> JsonReply:
        return await post_json(
            self._session,
            self._url,
            body,
            provider="the broadcast platform",
            client_timeout=self._timeout,
            headers={"Authorization": f"Bearer {self._token}"},
        )
