"""The status API (bearer token): what the duty officer watches during a warning."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from dispatcher.http.auth import require_token
from dispatcher.http.problems import problem
from dispatcher.store.db import Database
from dispatcher.store.queries import warning_summary

READER = web.AppKey("reader_db", Database)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")


@require_token
async def get_warning(request: web.Request) -> web.Response:
    warning_id = request.match_info["warning_id"]
    async with request.app[READER].reader.connect() as conn:
        summary = await warning_summary(conn, warning_id, request.app[CLOCK]())
    if summary is None:
        return problem(404, f"no warning with id {warning_id}")
    return web.json_response(summary, dumps=_dumps)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
