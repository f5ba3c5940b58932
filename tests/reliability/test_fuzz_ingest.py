"""Hypothesis against `POST /v1/warnings` of a running `jiaoying serve`: never a 5xx.

The parsers are fuzzed on their own in tests/core (test_cap.py, test_jsonform.py) and
the whole API, from its OpenAPI document, by schemathesis (tests/engine/test_openapi.py);
this drives generated bodies through the real process, its HTTP server, ingest and
store: arbitrary bytes under every content type, arbitrary JSON documents, and valid
warnings with one value anywhere replaced by anything. Each answer is a 2xx or a 4xx
with a reason (and a dead letter), the process stays up and its memory bounded.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import bounded
from tests.json_paths import json_paths
from tests.reliability.harness import (
    TOKEN,
    Serve,
    figures,
    prepare_store,
    serve_env,
    village,
    warning_json,
)
from tests.rosters import write_county

EXAMPLES = 120  # per strategy
CONTENT_TYPES = st.sampled_from(
    ["application/cap+xml", "application/xml", "text/xml", "application/json", "", "text/plain"]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)
BASE = json.loads(warning_json("fuzz-base", [village(0)]))
POLICY = """
red: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
orange: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
"""


def _replaced(path: tuple[str | int, ...], value: object, identifier: str) -> bytes:
    document: Any = copy.deepcopy(BASE)
    document["identifier"] = identifier
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(document, ensure_ascii=False).encode()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Serve]:
    county = write_county(tmp_path / "roster", 20, per_village=20)
    env = serve_env(
        tmp_path, roster=county.directory, policy=POLICY, extra={"JIAOYING_LOG_LEVEL": "WARNING"}
    )
    serve = Serve(env, tmp_path / "serve.log")
    await prepare_store(serve.db_url)
    serve.start()
    async with aiohttp.ClientSession() as http:
        try:
            await serve.until_ready(http)
            yield serve
        finally:
            await serve.terminate()


class Poster:
    """Posts a body and checks the answer; counts what came back."""

    def __init__(self, url: str) -> None:
        self._url = url + "/v1/warnings"
        self._session = requests.Session()
        self.statuses: dict[int, int] = {}
        self.posted = 0

    def __call__(self, body: bytes, content_type: str) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if content_type:
            headers["Content-Type"] = content_type
        response = self._session.post(self._url, data=body, headers=headers, timeout=30)
        self.posted += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (response.status_code, response.text[:300], body[:200])
        answer = response.json()
        if response.status_code >= 400:
            assert answer.get("error"), f"refused without a reason: {answer}"
        else:
            assert answer.get("id"), answer


def _fuzz(poster: Poster) -> None:
    options = settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )

    @options
    @given(st.binary(max_size=3000), CONTENT_TYPES)
    def any_bytes(body: bytes, content_type: str) -> None:
        poster(body, content_type)

    @options
    @given(JSON_VALUES)
    def any_json(value: object) -> None:
        poster(json.dumps(value).encode(), "application/json")

    @options
    @given(st.sampled_from(json_paths(BASE)), JSON_VALUES, st.uuids())
    def any_value_anywhere(path: tuple[str | int, ...], value: object, tag: object) -> None:
        poster(_replaced(path, value, f"fuzz-{tag}"), "application/json")

    any_bytes()
    any_json()
    any_value_anywhere()


@bounded(120)
async def test_generated_warnings_never_get_a_server_error(service: Serve) -> None:
    before = service.usage()
    poster = Poster(service.url)
    await asyncio.to_thread(_fuzz, poster)
    after = service.usage()
    assert service.process is not None and service.process.poll() is None, "still running"
    figures(
        "fuzz POST /v1/warnings (hypothesis)",
        requests=poster.posted,
        statuses=dict(sorted(poster.statuses.items())),
        rss_before_mb=round(before.rss / 2**20, 1),
        rss_after_mb=round(after.rss / 2**20, 1),
        cpu_s=round(after.cpu - before.cpu, 2),
    )
    assert after.rss - before.rss < 64 * 2**20
