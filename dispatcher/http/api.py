"""What every status-API route shares: JSON out, query parameters and bodies in, keyset
cursors.

A bad query parameter is the client's mistake and gets 400 with the parameter's name; a
body that is not what the route takes gets 422 (`BadRequest.status`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from dispatcher.http.auth import require_token
from dispatcher.http.problems import problem
from dispatcher.store.db import Database

NUL = "\x00"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})

Body = TypeVar("Body", bound=BaseModel)
Choice = TypeVar("Choice", bound=StrEnum)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

READER = web.AppKey("reader_db", Database)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")


class BadRequest(Exception):
    """The request cannot be served as asked; `reason` says what to change."""

    def __init__(self, reason: str, *, status: int = 400, parameter: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.parameter = parameter


def api_route(handler: Handler) -> Handler:
    """A status-API handler: bearer token required, and a `BadRequest` it raises becomes
    the JSON problem it describes."""

    async def served(request: web.Request) -> web.StreamResponse:
        # No stored text holds a NUL (PostgreSQL cannot store one): a name with one in it
        # names nothing, and a query with one in it cannot be asked.
        if any(NUL in value for value in request.match_info.values()):
            return problem(404, "no such resource: the path holds a NUL character")
        if any(NUL in key or NUL in value for key, value in request.query.items()):
            return problem(400, "a query parameter holds a NUL character")
        try:
            return await handler(request)
        except BadRequest as bad:
            extra = {"parameter": bad.parameter} if bad.parameter else {}
            return problem(bad.status, bad.reason, **extra)

    served.__name__ = handler.__name__
    served.__doc__ = handler.__doc__
    return require_token(served)


def json_ok(value: object, *, status: int = 200) -> web.Response:
    """JSON with Chinese text as UTF-8, not as `\\u` escapes."""
    return web.json_response(value, status=status, dumps=_dumps)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def limit_of(request: web.Request) -> int:
    """`limit` (default 50, 1 to 500)."""
    text = request.query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise BadRequest("limit must be a whole number", parameter="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be from 1 to {MAX_LIMIT}", parameter="limit")
    return limit


def flag_of(request: web.Request, name: str) -> bool | None:
    """A true/false query parameter; None when absent."""
    text = request.query.get(name)
    if text is None:
        return None
    folded = text.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise BadRequest(f"{name} must be true or false", parameter=name)


def choice_of(request: web.Request, name: str, choices: type[Choice]) -> Choice | None:
    """A query parameter that must be one of an enum's values; None when absent."""
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return choices(text)
    except ValueError:
        allowed = ", ".join(choice.value for choice in choices)
        raise BadRequest(f"{name} must be one of: {allowed}", parameter=name) from None


def text_of(request: web.Request, name: str, *, max_length: int = 255) -> str | None:
    text = request.query.get(name)
    if text is not None and not 1 <= len(text) <= max_length:
        raise BadRequest(f"{name} must be 1 to {max_length} characters", parameter=name)
    return text


def encode_cursor(key: Iterable[str | int]) -> str:
    """An opaque cursor for the page after the row whose sort key is `key`."""
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_of(request: web.Request, shape: tuple[type[str] | type[int], ...]) -> list[Any] | None:
    """The decoded `cursor` parameter, checked against the types of the route's sort key.

    Cursors are only ever made by `encode_cursor`; anything else is refused (400) rather
    than guessed at, so a tampered cursor cannot turn into a strange query.
    """
    text = request.query.get("cursor")
    if text is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(shape)
        or not all(_fits(part, kind) for part, kind in zip(key, shape, strict=True))
    ):
        raise BadRequest("cursor is not one this API gave out", parameter="cursor")
    return key


def _fits(part: object, kind: type[str] | type[int]) -> bool:
    if kind is int:
        # A key column holds at most a BIGINT; a larger number would fail in the driver.
        return type(part) is int and 0 <= part < 2**63
    return type(part) is str


async def body_of(request: web.Request, model: type[Body]) -> Body:
    """The JSON body as `model`; 422 with the first problem's field and message."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        message = first["msg"]
        if first["type"] == "json_invalid":
            message, field = "the body is not JSON", "body"
        elif first["type"] in ("model_type", "model_attributes_type"):
            message, field = "the body must be a JSON object", "body"
        raise BadRequest(f"{field}: {message}", status=422, parameter=field) from None
