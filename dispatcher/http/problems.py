"""Error responses: JSON with a reason a person can act on, never a traceback."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def problem(status: int, reason: str, **extra: Any) -> web.Response:
    return web.json_response({"error": reason, **extra}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn aiohttp's own HTTP errors (404, 405, 413 …) into the same JSON shape."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problem(error.status, error.reason)
    return response
