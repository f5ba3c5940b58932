"""The frame of an unsigned provider push (Alibaba Cloud, Tencent Cloud): the secret in
its path and its source checked, its JSON body read and shaped, the route's handler run,
and the provider's own answer — taken, refused, or "push again later" for sends not
recorded yet, which the provider retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from dispatcher.http.callback_secret import NotYetKnown, callback_allowed

log = structlog.get_logger("jiaoying.http.pushes")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = Callable[[web.Request, Any], Awaitable[int]]  # how many items it took


@dataclass(frozen=True, slots=True)
class Provider:
    """What differs between the providers' pushes."""

    name: str
    answer: Callable[[int, str], dict[str, Any]]  # the provider's answer body: code, message
    taken_message: str
    shape_problem: Callable[[Any], str | None]  # why a JSON body is not one of its pushes


def pushed(provider: Provider, route: Route) -> Handler:
    def answer(code: int, message: str, status: int = 200) -> web.Response:
        return web.json_response(provider.answer(code, message), status=status)

    async def checked(request: web.Request) -> web.StreamResponse:
        status = callback_allowed(request)
        if status is not None:
            # The path holds the presented secret: never logged.
            log.warning(
                "push refused", provider=provider.name, status=status, remote=request.remote
            )
            return answer(status, "not found" if status == 404 else "source not allowed", status)
        try:
            body = await request.json()
        except ValueError:
            return answer(400, "the push must be JSON", 400)
        problem = provider.shape_problem(body)
        if problem is not None:
            return answer(400, problem, 400)
        try:
            taken = await route(request, body)
        except NotYetKnown as unknown:
            # Its send's provider id is not recorded yet (the result writer batches) or
            # was never ours: the provider pushes it again later, and a forged one ends
            # after the provider's few retries.
            log.info(
                "push names sends not known yet: asked again",
                provider=provider.name,
                unknown=unknown.count,
            )
            return answer(1, "unknown send, push again later")
        log.info("push", provider=provider.name, route=route.__name__, taken=taken)
        return answer(0, provider.taken_message)

    checked.__name__ = route.__name__
    return checked
