"""Every request body is size-limited, on every route.

`POST /v1/warnings` takes up to `MAX_BODY` (1 MB): its handler reads at most one byte
more and refuses a larger body with 413, keeping the refusal as a dead letter with its
reason so that the producer's side can see why. Every other route takes at most
`SMALL_BODY` (64 KiB): a provider's callback, a press of the answer button or an
operator's entry is a few hundred bytes. A larger body is refused with 413 here, before
the handler runs, so nothing of it is stored:

- a declared `Content-Length` over the limit: at once, without reading the body;
- a declared length within the limit: passed on as it is, since aiohttp's parser
  delivers no more body than the length declares (what every provider sends);
- a body without a length (chunked): read up to the limit and refused past it.

A chunked body is read here even for a handler that never reads it (the answer page's
POST), and the handler reads the same bytes (aiohttp keeps them) with `read()`, `text()`,
`json()` or `post()` of a urlencoded form; no route takes multipart, which `post()`
would read from the stream again. The application's `client_max_size` stays above
`MAX_BODY`; this is the tighter limit of each route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from dispatcher.http.problems import problem

__all__ = ["SMALL_BODY", "body_limits"]

log = structlog.get_logger("jiaoying.http.limits")

SMALL_BODY = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def body_limits(own_limit: Collection[tuple[str, str]], limit: int = SMALL_BODY) -> Middleware:
    """The middleware refusing bodies over `limit` bytes with 413, on every route but the
    `(METHOD, path pattern)` pairs of `own_limit`, whose handlers enforce their own."""

    @web.middleware
    async def limited(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route
        pattern = route.resource.canonical if route.resource is not None else ""
        if (request.method, pattern) in own_limit or not request.body_exists:
            return await handler(request)
        declared = request.content_length
        if declared is not None:
            # A declared length bounds the read already; copying the request to bound
            # it again would cost an SMS reply's route for nothing.
            return _too_large(request, limit) if declared > limit else await handler(request)
        bounded = request.clone(client_max_size=limit)
        try:
            await bounded.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(request, limit)
        return await handler(bounded)

    return limited


def _too_large(request: web.Request, limit: int) -> web.Response:
    log.warning("request body over the limit refused", method=request.method, limit=limit)
    return problem(413, f"the request body is over the limit of {limit} bytes", limit=limit)
