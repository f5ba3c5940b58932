"""Hostile and broken warnings, over RabbitMQ and over HTTP, to a running `jiaoying serve`.

Each input is refused with its reason: over AMQP it lands in `jiaoying.dead` with the
reason in its headers, over HTTP the producer gets a 4xx saying why; either way it is
kept as a dead letter that `GET /v1/dead-letters` lists. No entity is ever expanded (the
local file the external entity points at appears nowhere: not in the store, not in the
API, not in the log), the process's memory stays bounded (the 10 MB body included), and
the next good warning, on either way in, is dispatched as if nothing had happened.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from dispatcher.amqp.topology import DEAD_QUEUE
from dispatcher.core.cap import parse_cap
from dispatcher.core.restamp import restamp_cap, shift_to
from tests.integration.conftest import bounded
from tests.reliability.conftest import Rabbit
from tests.reliability.harness import (
    EXAMPLES,
    Api,
    Serve,
    eventually,
    figures,
    prepare_store,
    query,
    serve_env,
    twilio_env,
    village,
    warning_json,
)
from tests.rosters import County, write_county
from tests.standins.twilio import TwilioStandIn

CAP = "application/cap+xml"
JSON = "application/json"
SECRET_FILE = Path("/etc/passwd")  # what an external entity would smuggle out
SECRET_LINE = SECRET_FILE.read_text().splitlines()[0]
POLICY = """
red: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
orange: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
"""


def _red_cap(identifier: str) -> str:
    raw = (EXAMPLES / "warnings/red-rainstorm.xml").read_bytes()
    shift = shift_to(parse_cap(raw).sent, datetime.now(UTC))
    text = restamp_cap(raw, shift).decode()
    return text.replace("44152341600000_20260720020000", identifier)


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE alert [\n'
        + "\n".join(entities)
        + '\n]>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        "<identifier>&lol9;</identifier></alert>"
    ).encode()


def _external_entity(identifier: str) -> bytes:
    text = _red_cap(identifier)
    declaration, _, rest = text.partition("\n")
    doctype = f'<!DOCTYPE alert [<!ENTITY secret SYSTEM "file://{SECRET_FILE}">]>'
    rest = rest.replace("<description>", "<description>&secret;", 1)
    return f"{declaration}\n{doctype}\n{rest}".encode()


def _missing_fields(identifier: str) -> bytes:
    text = _red_cap(identifier)
    start, end = text.index("<sent>"), text.index("</sent>") + len("</sent>")
    return (text[:start] + text[end:]).replace("<status>Actual</status>", "").encode()


def hostile(tag: str) -> dict[str, tuple[str, bytes]]:
    """Name → (content type, body); `tag` keeps the identifiers of two runs apart."""
    unknown = {
        "sender": "44152341600000",
        "identifier": f"never-{tag}",
        "sent": "2026-07-20T02:00:00+08:00",
    }
    return {
        "malformed XML": (CAP, b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><ident"),
        "billion laughs": (CAP, _billion_laughs()),
        "external entity": (CAP, _external_entity(f"xxe-{tag}")),
        "10 MB body": (JSON, b'{"identifier": "' + b"9" * 10_000_000 + b'"}'),
        "invalid JSON": (JSON, b'{"identifier": "broken-' + tag.encode() + b'", "sent": '),
        "CAP missing required fields": (CAP, _missing_fields(f"missing-{tag}")),
        "unknown area": (JSON, warning_json(f"beijing-{tag}", ["110101"])),
        "reference to an unknown warning": (
            JSON,
            warning_json(f"update-{tag}", [village(0)], msg_type="Update", references=[unknown]),
        ),
    }


@dataclass
class Hostile:
    serve: Serve
    api: Api
    county: County
    standin: TwilioStandIn

    def reached(self) -> set[str]:
        return {message.to for message in self.standin.messages.values()}


@pytest.fixture
async def hostile_service(tmp_path: Path, rabbit: Rabbit) -> AsyncIterator[Hostile]:
    county = write_county(tmp_path / "roster", 40, per_village=20)
    async with TwilioStandIn() as standin, aiohttp.ClientSession() as http:
        extra = {**twilio_env(standin), "JIAOYING_AMQP_URL": rabbit.url}
        env = serve_env(tmp_path, roster=county.directory, policy=POLICY, extra=extra)
        serve = Serve(env, tmp_path / "serve.log")
        await prepare_store(serve.db_url)
        serve.start()
        try:
            await serve.until_ready(http)
            yield Hostile(serve, Api(http, serve.url), county, standin)
        finally:
            await serve.terminate()


@bounded(90)
async def test_hostile_input_is_refused_with_its_reason_and_the_next_warning_served(
    hostile_service: Hostile, rabbit: Rabbit
) -> None:
    service, api = hostile_service, hostile_service.api
    village_0 = set(service.county.grid_phones[:20])
    village_1 = set(service.county.grid_phones[20:])
    await rabbit.broker.publish(warning_json("warm-up", [village(0)]), JSON)
    await eventually(lambda: service.reached() >= village_0, 15, "the warm-up warning")
    before = service.serve.usage()

    refused_over_http: dict[str, tuple[int, dict[str, object]]] = {}
    for name, (content_type, body) in hostile("http").items():
        status, answer = await api.post("/v1/warnings", body, content_type)
        refused_over_http[name] = (status, answer)
        health, _ = await api.get("/healthz")
        assert health == 200, f"the service stopped answering after {name}"
    bodies = hostile("amqp")
    for name, (content_type, body) in bodies.items():
        await rabbit.broker.publish(body, content_type, message_id=name)
    dead = await eventually(
        lambda: _all_dead(rabbit, len(bodies)), 30, "every hostile delivery dead-lettered"
    )
    after_hostile = service.serve.usage()

    await rabbit.broker.publish(warning_json("after-amqp", [village(1)]), JSON)
    status, answer = await api.post("/v1/warnings", warning_json("after-http", [village(0)]))
    assert status == 202, answer
    await eventually(lambda: service.reached() >= village_1, 15, "the next warning over AMQP")
    listed = await api.dead_letters()
    after = service.serve.usage()

    by_id = {item["id"]: item for item in listed}
    for name, (status, answer) in refused_over_http.items():
        assert 400 <= status < 500, (name, status, answer)
        assert answer.get("error"), f"{name}: refused without a reason"
        item = by_id[answer["dead_letter_id"]]
        assert (item["source"], item["reason"]) == ("http", answer["error"]), name
    for message in dead:
        headers = message.headers or {}
        name = str(message.message_id)
        reason = str(headers["x-jiaoying-reason"])
        item = by_id[int(str(headers["x-jiaoying-dead-letter-id"]))]
        assert (item["source"], item["reason"]) == ("amqp", reason), name
    assert {str(message.message_id) for message in dead} == set(bodies)

    assert SECRET_LINE not in json.dumps(listed, ensure_ascii=False)
    assert SECRET_LINE not in service.serve.tail(lines=100_000)
    stored = await query(service.serve.db_url, "select identifier from messages")
    assert {row.identifier for row in stored} == {"warm-up", "after-amqp", "after-http"}

    grown = after.rss - before.rss
    figures(
        "hostile input",
        inputs=len(bodies),
        http_statuses={name: status for name, (status, _) in refused_over_http.items()},
        amqp_dead_lettered=len(dead),
        reasons={name: answer["error"] for name, (_, answer) in refused_over_http.items()},
        rss_before_mb=round(before.rss / 2**20, 1),
        rss_after_hostile_mb=round(after_hostile.rss / 2**20, 1),
        rss_after_mb=round(after.rss / 2**20, 1),
        peak_rss_mb=round(after.peak_rss / 2**20, 1),
        cpu_for_all_hostile_s=round(after_hostile.cpu - before.cpu, 2),
    )
    assert grown < 64 * 2**20, f"memory grew by {grown / 2**20:.0f} MB"


async def _all_dead(rabbit: Rabbit, expected: int) -> list[object] | None:
    if await rabbit.broker.depth(DEAD_QUEUE) < expected:
        return None
    return list(await rabbit.broker.take(DEAD_QUEUE))
