"""Killed while a red warning jumps a blue fan-out's queue, nobody of either is lost.

A blue warning to the whole county fans out at `JIAOYING_SEND_RATES=sms=100` through the
Twilio stand-in; a red warning to one village is published mid-way, and the service is
killed (SIGKILL) while the red SMS go out ahead of the blue ones already claimed. After a
restart on the same store every person has had the SMS of each warning they are in, no
send stays claimed, and what went out twice is no more than jiaoying reports as possible
duplicates.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.reliability.harness import (
    Api,
    Serve,
    eventually,
    figures,
    prepare_store,
    serve_env,
    twilio_env,
    village,
    warning_json,
)
from tests.rosters import COUNTY, County, write_county
from tests.standins.twilio import TwilioStandIn

SIZE = 1_000  # blue: 50 villages of 20 grid persons
RED_VILLAGE = 30  # its persons come late in the county's roster order
RATE = 100
STEPS = "  answer_within: 1h\n  steps:\n    - {after: 0s, notify: [sms]}\n" + (
    "    - {after: 1h, unless: answered, notify: [sms]}\n"
)
POLICY = "".join(f"{level}:\n{STEPS}" for level in ("red", "orange", "yellow", "blue"))


def _blue(identifier: str) -> bytes:
    body: dict[str, Any] = json.loads(warning_json(identifier, [COUNTY]))
    info = body["infos"][0]
    info.update(
        level="blue",
        event="大风蓝色预警",
        severity="Minor",
        urgency="Expected",
        headline="陆河县气象台发布大风蓝色预警信号，全县阵风8级，请各网格责任人转告群众",
        instruction="请加固围板、棚架等搭建物，减少户外活动。收到请回复“1”。",
    )
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Serve, Api, County, TwilioStandIn]]:
    county = write_county(tmp_path / "roster", SIZE)
    async with TwilioStandIn() as standin, aiohttp.ClientSession() as http:
        extra = {
            **twilio_env(standin),
            "JIAOYING_SEND_RATES": f"sms={RATE}",
            "JIAOYING_PEER_TIMEOUT": "4",
            "JIAOYING_LOG_LEVEL": "WARNING",
        }
        env = serve_env(tmp_path, roster=county.directory, policy=POLICY, extra=extra)
        serve = Serve(env, tmp_path / "serve.log")
        await prepare_store(serve.db_url)
        try:
            yield serve, Api(http, serve.url), county, standin
        finally:
            await serve.terminate()


async def test_killed_while_a_red_warning_overtakes_a_blue_fan_out(
    running: tuple[Serve, Api, County, TwilioStandIn],
) -> None:
    serve, api, county, standin = running
    red_phones = set(county.grid_phones[RED_VILLAGE * 20 : (RED_VILLAGE + 1) * 20])

    def per_phone() -> Counter[str]:
        return Counter(message.to for message in standin.messages.values())

    serve.start()
    await serve.until_ready(api.http)
    status, answer = await api.post("/v1/warnings", _blue("county-gale-blue"))
    assert status == 202, answer
    blue_id = str(answer["id"])
    await eventually(lambda: len(standin.messages) >= 200, within=60, what="blue under way")
    status, answer = await api.post(
        "/v1/warnings", warning_json("village-landslide-red", [village(RED_VILLAGE)])
    )
    assert status == 202, answer
    red_id = str(answer["id"])
    await eventually(
        lambda: len(red_phones & set(per_phone())) >= 5, within=60, what="red under way"
    )
    serve.kill()
    sent_before = len(standin.messages)
    assert sent_before < SIZE, "the kill came after the blue fan-out had finished"

    serve.start()
    await serve.until_ready(api.http)
    wanted = {phone: 2 if phone in red_phones else 1 for phone in county.grid_phones}

    async def recovered() -> bool:
        counts = per_phone()
        if any(counts[phone] < n for phone, n in wanted.items()):
            return False
        statuses = [await api.warning(w) for w in (blue_id, red_id)]
        return all(s["sends"].get("sms:claimed", 0) == 0 for s in statuses)

    await eventually(recovered, within=90, every=0.5, what="everybody of both warnings reached")
    statuses = [await api.warning(w) for w in (blue_id, red_id)]
    reported = sum(int(s["possible_duplicate_sends"]) for s in statuses)
    assert await serve.terminate() == 0, "a SIGTERM ends the service cleanly"
    counts = per_phone()
    twice = sum(max(0, counts[phone] - n) for phone, n in wanted.items())
    figures(
        "process crash, red overtaking blue",
        recipients=SIZE + len(red_phones),
        rate=RATE,
        sent_before_kill=sent_before,
        sent_twice=twice,
        reported_possible_duplicates=reported,
    )
    assert twice <= reported, "jiaoying never under-reports what it may have sent twice"
