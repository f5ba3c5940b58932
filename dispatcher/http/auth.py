"""Bearer tokens for the API: several named tokens, compared in constant time.

The token's *name* (never the token) is what gets recorded with a manual action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dispatcher.http.problems import problem
from dispatcher.runtime.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SETTINGS = web.AppKey("settings", Settings)
TOKEN_NAME = web.RequestKey("token_name", str)


def require_token(handler: Handler) -> Handler:
    """Refuse the request with 401 unless it carries a known `Authorization: Bearer` token."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        settings = request.app[SETTINGS]
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        name = settings.api_token_name(presented.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            reason = (
                "no API tokens are configured (JIAOYING_API_TOKENS)"
                if not settings.api_tokens
                else "a valid bearer token is required"
            )
            response = problem(401, reason)
            response.headers["WWW-Authenticate"] = 'Bearer realm="jiaoying"'
            return response
        request[TOKEN_NAME] = name
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded
