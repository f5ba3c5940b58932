"""`GET /metrics`: Prometheus exposition, behind a bearer token like the rest of the API
(Prometheus sends one with `authorization: {credentials: …}`)."""

from __future__ import annotations

from aiohttp import web

from dispatcher.http.auth import require_token
from dispatcher.runtime.metrics import CONTENT_TYPE, Metrics

METRICS = web.AppKey("metrics", Metrics)


@require_token
async def get_metrics(request: web.Request) -> web.Response:
    response = web.Response(body=request.app[METRICS].exposition())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response
