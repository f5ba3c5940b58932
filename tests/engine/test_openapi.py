"""GET /v1/openapi.json is the whole API, and the live service keeps to it (schemathesis).

schemathesis generates requests from the document (valid ones, and ones that break it)
and checks each response: never a 5xx, and a status code, content type and body that the
document declares for that operation. It runs in a thread against the service the test
started, whose event loop keeps serving meanwhile.

Left out of the generated run, with the reason:
- `/callbacks/*`: each needs a provider's signature (Twilio, WeChat, the broadcast
  platform) over what it sends; generated requests only ever get 403 or, with the
  provider not configured here, 404. Their own tests sign real requests.
- `/a/{token}`: a signed, expiring token; a generated one only ever gets 403.
The first test still holds those routes to the document.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dispatcher.http.aliyun_callbacks import add_aliyun_routes
from dispatcher.http.broadcast_callbacks import add_broadcast_routes
from dispatcher.http.tencent_callbacks import add_tencent_routes
from dispatcher.http.twilio_callbacks import add_twilio_routes
from dispatcher.http.wechat_callbacks import add_wechat_routes
from tests.engine.conftest import TOKEN, Jiaoying, app_of
from tests.pg import each_store

# The `db_url` fixture: on PostgreSQL too, which refuses what SQLite lets pass (a NUL).
__all__ = ["each_store"]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_MODE = 25
SIGNED = ("/callbacks/", "/a/")


async def _document(jiaoying: Jiaoying) -> dict[str, Any]:
    response = await jiaoying.client.get("/v1/openapi.json", headers=AUTH)
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    return document


def _operations(router: web.UrlDispatcher) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical)
        for route in router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


async def test_the_document_describes_every_route_and_only_those(jiaoying: Jiaoying) -> None:
    document = await _document(jiaoying)
    assert document["openapi"] == "3.1.0"
    documented = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    served = _operations(app_of(jiaoying.client).router)
    callbacks = web.Application()
    add_twilio_routes(callbacks)
    add_wechat_routes(callbacks)
    add_broadcast_routes(callbacks)
    add_aliyun_routes(callbacks)
    add_tencent_routes(callbacks)
    served |= _operations(callbacks.router)
    assert served - documented == set(), "a route the document does not describe"
    assert documented - served == set(), "a documented operation nobody serves"

    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            schemes = {name for entry in operation.get("security", []) for name in entry}
            if path.startswith("/v1/"):
                assert schemes == {"bearerAuth"}, (method, path)
            else:
                assert "bearerAuth" not in schemes, (method, path)


async def test_the_live_service_keeps_to_its_document(jiaoying: Jiaoying) -> None:
    warning_id = (await jiaoying.post("red-rainstorm.xml"))["id"]
    schema = schemathesis.openapi.from_dict(await _document(jiaoying))
    base_url = str(jiaoying.client.make_url("")).rstrip("/")
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"schemathesis cannot read an operation: {result.err()}")
        if not result.ok().path.startswith(SIGNED):
            operations.append(result.ok())
    assert len(operations) >= 14

    answered: Counter[tuple[str, int]] = Counter()
    for operation in operations:
        await asyncio.to_thread(_fuzz, operation, GenerationMode.POSITIVE, base_url, answered)
        if _takes_input(operation):  # else there is nothing to break
            await asyncio.to_thread(_fuzz, operation, GenerationMode.NEGATIVE, base_url, answered)

    # Generated ids are almost never real ones; a request with the real warning's id shows
    # the routes answer with what they document when there is something to show.
    for path in ("", "/recipients", "/ledger.csv"):
        response = await jiaoying.client.get(f"/v1/warnings/{warning_id}{path}", headers=AUTH)
        assert response.status == 200
    statuses = {status for (_, status) in answered}
    assert 200 in statuses and 400 in statuses and 404 in statuses
    listed = {label for (label, status) in answered if status == 200}
    for label in ("GET /v1/warnings", "GET /v1/tasks", "GET /v1/dead-letters", "GET /healthz"):
        assert label in listed, f"{label} never answered 200: the run tested only refusals"


def _takes_input(operation: Any) -> bool:
    """Anything a request could get wrong, beside the bearer token the run always sends."""
    headers = [h for h in operation.headers if h.name != "Authorization"]
    parts = (operation.path_parameters, operation.query, operation.body)
    return bool(headers) or any(len(part) for part in parts)


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, seen: Counter[Any]) -> None:
    strategy = operation.as_strategy(generation_mode=mode, headers=AUTH)

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call_and_validate(base_url=base_url, headers=AUTH, checks=CHECKS)
        seen[(f"{operation.method.upper()} {operation.path}", response.status_code)] += 1

    run()
