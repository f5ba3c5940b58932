"""Play reports from the emergency-broadcast platform: `POST /callbacks/broadcast?key=…`.

The platform POSTs a JSON report to the `callback_url` of each play request:

    {"id": "<play id>", "ebm_id": "<the request's ebm_id>", "state": 3 | "播发成功",
     "state_desc": "…", "area_code": "…", "report_time": "…", "coverage_rate": 0.96}

signed in the header `X-Jiaoying-Signature: sha256=<hex HMAC-SHA256 of the raw body,
keyed with JIAOYING_BROADCAST_TOKEN>`. The body's `ebm_id` must be the one jiaoying
derived from the `key` in the URL, which binds the signed body to its send: a genuine
report replayed against another send's URL is refused like a forged one (403).

A report moves that zone's send along: 未处理/等待播发/播发中 (0–2) → sent, 播发成功
(3) → delivered, 播发失败/播发取消 (4/5) → failed. It is recorded per zone as the
send's delivery, never as any person's answer: loudspeakers playing tells nobody who
heard them. With the broadcast platform not configured the route answers 404.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import structlog
from aiohttp import web

from channels.base import Reason
from channels.broadcast import PlayState, ebm_id_for, play_state
from dispatcher.http.auth import SETTINGS
from dispatcher.http.keys import REPLIES
from dispatcher.http.problems import problem

log = structlog.get_logger("jiaoying.callbacks.broadcast")

PATH = "/callbacks/broadcast"
SIGNATURE_HEADER = "X-Jiaoying-Signature"

_SEND_STATUS = {
    PlayState.UNPROCESSED: "sent",
    PlayState.WAITING: "sent",
    PlayState.PLAYING: "sent",
    PlayState.PLAYED: "delivered",
    PlayState.FAILED: "failed",
    PlayState.CANCELLED: "failed",
}


def add_broadcast_routes(app: web.Application) -> None:
    """Register `POST /callbacks/broadcast` on `app`."""
    app.router.add_post(PATH, receive_play_report)


def report_signature(token: str, body: bytes) -> str:
    """The `X-Jiaoying-Signature` value of a report `body`: `sha256=<hex HMAC>`."""
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


async def receive_play_report(request: web.Request) -> web.StreamResponse:
    """Record a signed play report on its send; answers `{"recorded": bool}`.

    `recorded` is false for a report that does not move the send forward (a repeat, or
    a state it already passed); the platform need not send it again either way.
    """
    token = request.app[SETTINGS].broadcast_token
    if token is None:
        return problem(404, "the broadcast platform is not configured")
    body = await request.read()
    expected = report_signature(token.get_secret_value(), body)
    presented = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        log.warning("broadcast play report with a bad signature refused")
        return problem(403, "bad signature")
    key = request.query.get("key", "")
    report = _parse(body)
    if report is None:
        return problem(400, "the body is not a JSON play report")
    if not key or report.get("ebm_id") != ebm_id_for(key):
        log.warning("broadcast play report for another send refused")
        return problem(403, "the report's ebm_id does not belong to this callback URL")
    state = play_state(report.get("state"))
    if state is None:
        return problem(422, "unknown play state", state=str(report.get("state"))[:40])
    status = _SEND_STATUS[state]
    play_id = report.get("id")
    recorded = await request.app[REPLIES].delivery(
        key=key,
        provider_id=str(play_id) if play_id not in (None, "") else None,
        status=status,
        reason=Reason.UNREACHABLE.value if status == "failed" else None,
        detail=_detail(report, state),
    )
    log.info(
        "broadcast play report",
        key=key,
        zone=str(report.get("zone_id") or report.get("area_code", ""))[:64],
        state=state.name.lower(),
        recorded=recorded,
    )
    return web.json_response({"recorded": recorded})


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        report = json.loads(body)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def _detail(report: dict[str, Any], state: PlayState) -> str:
    """What the ledger shows of a report: the platform's words and the coverage."""
    words = str(report.get("state_desc") or state.name.lower())
    coverage = report.get("coverage_rate")
    if isinstance(coverage, int | float) and not isinstance(coverage, bool):
        words = f"{words}, coverage {coverage:.0%}"
    return words[:200]
