"""Oversized request bodies get 413 on every kind of route, and store nothing.

Against a running `jiaoying serve` with every provider configured, each kind of route
gets a body over its limit, once with a declared `Content-Length` and once chunked
(no length, so the server only learns the size by reading): ingest (10 MB, over its
1 MB), the operator's POSTs, every provider callback and the answer page (256 KiB: over
the 64 KiB of every route but ingest, under the application's overall 1 MB). Each body
is otherwise genuine — a valid warning, a validly signed Twilio answer "1", a correctly
signed WeChat and broadcast report, a genuine answer link — padded to size, so that
were it taken, the store would change.
Ingest keeps the refusal as a dead letter with its reason (case 5a); apart from that
the store is unchanged, and the process's memory stays bounded.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from yarl import URL

from dispatcher.engine.ingest import MAX_BODY
from dispatcher.http.broadcast_callbacks import SIGNATURE_HEADER, report_signature
from dispatcher.http.limits import SMALL_BODY
from dispatcher.http.twilio_callbacks import INBOUND_SMS_PATH
from tests.integration.conftest import bounded
from tests.reliability.harness import TOKEN, eventually, figures, query, village, warning_json
from tests.reliability.test_forged_callbacks import SNAPSHOT, Attacked, attacked
from tests.standins.twilio_wire import message_params
from tests.standins.wechat import job_finished_xml

__all__ = ["attacked"]

SMALL_OVER = 4 * SMALL_BODY  # 256 KiB: over the 64 KiB, under the app-wide 1 MB
INGEST_OVER = 10 * 1024 * 1024  # well over MAX_BODY
STORE = {
    **SNAPSHOT,
    "warnings": "select id from warnings",
    "messages": "select id from messages",
    "receipts": "select kind, key from callback_receipts",
}
ANSWER_LINK = re.compile(r"https?://\S+/a/[A-Za-z0-9_\-]+")
Body = Callable[[], bytes]


async def _chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _post(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    chunked: bool,
) -> int:
    data: Any = _chunks(body) if chunked else body
    async with http.request(method, URL(url, encoded=True), data=data, headers=headers) as reply:
        await reply.read()
        return reply.status


def _padded_json(value: dict[str, Any], size: int) -> bytes:
    """`value` as JSON followed by whitespace up to `size` bytes: still valid JSON."""
    text = json.dumps(value, ensure_ascii=False).encode()
    return text + b" " * (size - len(text))


def _signed_form(attacked: Attacked, url: str, params: dict[str, str]) -> tuple[bytes, str]:
    """The form with a padding field, and Twilio's genuine signature over all of it."""
    padded = {**params, "Pad": "x" * SMALL_OVER}
    return str(URL.build(query=padded).query_string).encode(), attacked.twilio.sign(url, padded)


async def _store(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: sorted(tuple(row) for row in await query(db_url, sql)) for name, sql in STORE.items()
    }


async def _settled(db_url: str) -> bool:
    rows = await query(db_url, "select status, count(*) from attempts group by status")
    counts = {row[0]: row[1] for row in rows}
    return sum(counts.values()) >= 20 * 3 + 1 and not counts.get("claimed")


@bounded(120)
async def test_an_oversized_body_gets_413_on_every_kind_of_route_and_stores_nothing(
    attacked: Attacked,
) -> None:
    api, twilio, wechat, platform = (
        attacked.api,
        attacked.twilio,
        attacked.wechat,
        attacked.platform,
    )
    db_url, public = attacked.serve.db_url, attacked.serve.url
    status, answer = await api.post("/v1/warnings", warning_json("big-1", [village(0)]))
    assert status == 202, answer
    warning_id = answer["id"]
    await eventually(lambda: _settled(db_url), 20, "every send recorded")
    tasks = await query(db_url, "select id from tasks")
    task_id = tasks[0][0] if tasks else 1

    bearer = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    big_warning = json.loads(warning_json("big-2", [village(1)]))
    big_warning["infos"][0]["description"] = "雨" * (INGEST_OVER // 3)
    sms_form, sms_signature = _signed_form(
        attacked,
        public + INBOUND_SMS_PATH,
        {
            "AccountSid": twilio.account_sid,
            "Body": "1",
            "From": attacked.county.grid_phones[0],
            "MessageSid": twilio.new_id("SM"),
            "To": "+12025550100",
        },
    )
    message = next(iter(twilio.messages.values()))
    assert message.status_callback
    status_form, status_signature = _signed_form(
        attacked,
        message.status_callback,
        message_params(twilio.account_sid, message, "delivered", None),
    )
    timestamp, nonce = str(int(time.time())), "20261129"
    signature = hashlib.sha1(  # noqa: S324 - WeChat's protocol
        "".join(sorted((wechat.token, timestamp, nonce))).encode()
    ).hexdigest()
    report = job_finished_xml(wechat.messages[0]["msgid"], "success", "oTestOpenid")
    wechat_body = (report + "<!--" + "x" * SMALL_OVER + "-->").encode()
    play = platform.plays[0]
    play_body = _padded_json(
        {"id": play["id"], "ebm_id": play["ebm_id"], "state": 3, "area_code": play["area_code"]},
        SMALL_OVER,
    )
    link = next(
        found for m in twilio.messages.values() for found in ANSWER_LINK.findall(m.body)
    ).removeprefix(public)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    routes: dict[str, tuple[str, str, bytes, dict[str, str]]] = {
        "ingest": (
            "POST",
            "/v1/warnings",
            _padded_json(big_warning, INGEST_OVER),
            bearer,
        ),
        "operator answer": (
            "POST",
            f"/v1/warnings/{warning_id}/answers",
            _padded_json({"person_id": "wg000001", "how": "phone"}, SMALL_OVER),
            bearer,
        ),
        "operator task report": (
            "POST",
            f"/v1/tasks/{task_id}/report",
            _padded_json({"households_reached": 80}, SMALL_OVER),
            bearer,
        ),
        "status api": ("GET", "/v1/warnings", b"x" * SMALL_OVER, bearer),
        "twilio inbound sms": (
            "POST",
            INBOUND_SMS_PATH,
            sms_form,
            {**form, "X-Twilio-Signature": sms_signature},
        ),
        "twilio sms status": (
            "POST",
            message.status_callback.removeprefix(public),
            status_form,
            {**form, "X-Twilio-Signature": status_signature},
        ),
        "wechat event": (
            "POST",
            f"/callbacks/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}",
            wechat_body,
            {"Content-Type": "text/xml"},
        ),
        "broadcast play report": (
            "POST",
            play["callback_url"].removeprefix(public),
            play_body,
            {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: report_signature(platform.token, play_body),
            },
        ),
        "answer page press": ("POST", link, b"pressed=" + b"1" * SMALL_OVER, form),
        "answer page view": ("GET", link, b"x" * SMALL_OVER, form),
    }
    before = await _store(db_url)
    dead_before = len(await query(db_url, "select id from dead_letters"))
    rss_before = attacked.serve.usage().rss
    statuses: dict[str, list[int]] = {}
    async with aiohttp.ClientSession() as http:
        for name, (method, path, body, headers) in routes.items():
            for chunked in (False, True):
                status = await _post(http, method, public + path, body, headers, chunked=chunked)
                statuses.setdefault(name, []).append(status)
    after = await _store(db_url)
    dead = await query(db_url, "select reason, size from dead_letters order by id")
    usage = attacked.serve.usage()

    # The same routes still serve a body of the right size: the press answers.
    pressed = await attacked.post(public + link)
    answered = await query(db_url, "select by from answers")
    figures(
        "oversized bodies",
        routes=len(routes),
        requests=sum(len(s) for s in statuses.values()),
        statuses=statuses,
        small_limit=SMALL_BODY,
        ingest_limit=MAX_BODY,
        store_unchanged=after == before,
        dead_letters_added=len(dead) - dead_before,
        rss_mb=[round(rss_before / 2**20, 1), round(usage.rss / 2**20, 1)],
        peak_rss_mb=round(usage.peak_rss / 2**20, 1),
    )
    assert statuses == {name: [413, 413] for name in routes}, statuses
    assert after == before, [name for name in STORE if after[name] != before[name]]
    assert len(dead) - dead_before == 2, "each ingest refusal is kept as a dead letter"
    assert all("over the limit" in reason for reason, _ in dead[dead_before:])
    assert usage.rss - rss_before < 64 * 2**20, "the bodies were not held in memory"
    assert pressed == 200 and answered, "a right-sized press on the same link answers"
