"""Shared plumbing of the providers' local stand-ins (Twilio, WeChat, broadcast platform).

A stand-in is a real aiohttp server on 127.0.0.1 (a free port) that speaks one
provider's wire protocol, so the adapters under test run their real HTTP clients against
it. This module holds what every stand-in needs and nothing provider-specific:

- start on a free port / close (`async with StandInServer(...)` or `start()`/`close()`);
- a log of the provider requests it saw (`requests`, each a `Recorded`) and the
  credentials it was configured with (`secrets`: tests assert none leaks into a log);
- one-shot controls for the next provider request: `respond_next(status, body, headers)`
  and `stall_next(seconds)`;
- simple global fault modes for reliability tests: `error_rate` (random 500s),
  `rate_limit` (429 with `Retry-After` once more than N requests came within a second),
  `reset_connections` (drop the connection without an answer), `response_delay` (the
  request is carried out at once, its answer held back: a client that dies meanwhile
  never learns the provider's id);
- an HTTP client session (`http`) for the provider's side of callbacks.

A subclass registers its routes on `self.app` and calls `await self.intercept(request)`
first in each handler that is a provider API call, and `await self.hold_answer()` once
the call is carried out; when a control or a fault applies,
that returns the response to send instead (in the provider's own error format, from the
`server_error` / `rate_limited` hooks). Handlers that are not provider API calls (a test
helper endpoint, a file download) simply skip `intercept`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web

from tests.logscan import remember_secret_list

__all__ = ["Recorded", "StandInServer", "free_socket"]


def free_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket bound to `port` on `host`; port 0 picks a free one, and holding the
    bound socket (rather than probing a port number) means nobody can take it meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@dataclass(frozen=True)
class Recorded:
    """One provider request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def form(self) -> dict[str, list[str]]:
        """The form-encoded body, every value of every key (`{}` for another body)."""
        if "application/x-www-form-urlencoded" not in self.headers.get("Content-Type", ""):
            return {}
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def one(self, name: str) -> str | None:
        """The single value of form field `name`, or None when it was not sent."""
        values = self.form.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The JSON body (raises for a body that is not JSON)."""
        return json.loads(self.body)


@dataclass
class _Planned:
    status: int
    body: Any
    headers: dict[str, str]


class StandInServer:
    """Base of the stand-ins: server lifecycle, request log, controls and fault modes."""

    def __init__(self, *, seed: int | None = None) -> None:
        self.app = web.Application()
        self.requests: list[Recorded] = []
        self.secrets: list[str] = []
        # Fault modes: read on every provider request, so a test may flip them any time.
        self.error_rate = 0.0
        self.rate_limit: int | None = None  # provider requests allowed per rolling second
        self.rate_limit_retry_after = 1.0
        self.reset_connections = False
        self.response_delay = 0.0  # seconds an accepted request's answer is held back
        self._random = random.Random(seed)  # fault injection, not security
        self._planned: deque[_Planned | float] = deque()
        self._recent: deque[float] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._url = ""

    # -- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, once started."""
        if not self._url:
            raise RuntimeError("the stand-in is not started")
        return self._url

    @property
    def http(self) -> aiohttp.ClientSession:
        """The session the stand-in uses for its own callbacks to the service under test."""
        if self._http is None:
            raise RuntimeError("the stand-in is not started")
        return self._http

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> Self:
        """Serve on `host`:`port` (0: a free port); `url` says where."""
        sock = free_socket(host, port)
        # handler_cancellation: a stalled handler ends with the client's disconnect.
        self._runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.SockSite(self._runner, sock)
        await site.start()
        host, port = sock.getsockname()[:2]
        self._url = f"http://{host}:{port}"
        self._http = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        remember_secret_list(self.secrets)  # the suite's log scan looks for each of them
        self._closing.set()  # releases stalled handlers at once
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- one-shot controls -----------------------------------------------------------

    def respond_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer the next provider request with this response instead of its normal one.

        `body`: a dict or list is sent as JSON, bytes as they are, anything else as text.
        Calls queue up: two `respond_next` answer the next two requests.
        """
        self._planned.append(_Planned(status, body, dict(headers or {})))

    def stall_next(self, seconds: float) -> None:
        """Hold the next provider request this long, then handle it normally."""
        self._planned.append(seconds)

    # -- hooks a provider overrides ----------------------------------------------------

    def server_error(self) -> web.Response:
        """The provider's answer to a request it failed on (fault mode `error_rate`)."""
        return web.json_response({"error": "internal server error"}, status=500)

    def rate_limited(self, retry_after: float) -> web.Response:
        """The provider's answer to a request over its rate limit (fault mode `rate_limit`)."""
        return web.json_response(
            {"error": "too many requests"},
            status=429,
            headers={"Retry-After": _seconds(retry_after)},
        )

    # -- for handlers ----------------------------------------------------------------

    async def record(self, request: web.Request) -> Recorded:
        """Log `request` (body read in full) in `requests` and return the entry."""
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query={key: request.query.getall(key) for key in request.query},
            headers=dict(request.headers),
            body=await request.read(),
        )
        self.requests.append(recorded)
        return recorded

    async def intercept(self, request: web.Request) -> web.StreamResponse | None:
        """Apply the one-shot controls, then the fault modes, to a provider request.

        Returns the response to send instead of the normal one, or None to go on.
        A stall is served first and then the request goes on (or meets the next plan).
        """
        while self._planned:
            plan = self._planned.popleft()
            if isinstance(plan, float | int):
                await self._stall(float(plan))
                continue
            return _response(plan)
        if self.reset_connections:
            if request.transport is not None:
                request.transport.abort()
            # The connection is gone; what is returned here is never written.
            return web.Response(status=500)
        if self.rate_limit is not None and self._over_rate_limit():
            return self.rate_limited(self.rate_limit_retry_after)
        if self.error_rate and self._random.random() < self.error_rate:
            return self.server_error()
        return None

    async def hold_answer(self) -> None:
        """Wait `response_delay` seconds before answering a request already carried out.

        The handler is cancelled if the client disconnects meanwhile: the provider did the
        work (the SMS is queued), and the client never hears of it.
        """
        if self.response_delay > 0:
            await self._stall(self.response_delay)

    def new_id(self, prefix: str, length: int = 34) -> str:
        """A provider-style id: `prefix` then lowercase hex up to `length` characters."""
        digits = length - len(prefix)
        return prefix + "".join(self._random.choice("0123456789abcdef") for _ in range(digits))

    async def _stall(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _over_rate_limit(self) -> bool:
        now = time.monotonic()
        while self._recent and now - self._recent[0] > 1.0:
            self._recent.popleft()
        self._recent.append(now)
        return self.rate_limit is not None and len(self._recent) > self.rate_limit


def _response(plan: _Planned) -> web.Response:
    if isinstance(plan.body, dict | list):
        return web.json_response(plan.body, status=plan.status, headers=plan.headers)
    if isinstance(plan.body, bytes):
        return web.Response(body=plan.body, status=plan.status, headers=plan.headers)
    return web.Response(text=str(plan.body), status=plan.status, headers=plan.headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
