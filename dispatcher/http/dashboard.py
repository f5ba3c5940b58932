"""The duty officer's dashboard (值班看板): a page at `/`, its files under `/ui/`.

The page holds no data, so it is served without a token; the operator pastes an API
token into it and everything it shows comes from the /v1 API with that token. Its files
ship inside the package (dispatcher/dashboard/) and are read once at start: duty rooms
often sit on closed networks, so nothing may come from a CDN.

Every file is sent with a strict Content-Security-Policy (only this origin, no inline
script or style) and `Cache-Control: no-cache` with an ETag: the browser keeps a copy but
asks each time, so an upgraded service never runs beside a stale script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType

from aiohttp import web

from dispatcher.http.api import api_route, json_ok
from dispatcher.http.auth import TOKEN_NAME
from dispatcher.http.problems import problem

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


ASSETS: web.AppKey[Mapping[str, Asset]] = web.AppKey("dashboard_assets")


def add_dashboard_routes(app: web.Application) -> None:
    """Register the dashboard: `/` (the page), `/ui/{name}` (its files) and `/v1/me` (whom
    the presented token names: the sign-in check, and who is recorded as entering)."""
    app[ASSETS] = load_assets()
    app.router.add_get("/", get_index)
    app.router.add_get("/ui/{name}", get_asset)
    app.router.add_get("/v1/me", get_me)


def load_assets() -> Mapping[str, Asset]:
    """The dashboard's files by name, read from the installed package."""
    folder = files("dispatcher") / "dashboard"
    assets = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in CONTENT_TYPES:
            body = entry.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:20]
            assets[entry.name] = Asset(body, CONTENT_TYPES[suffix], f'"{digest}"')
    if INDEX not in assets:
        raise RuntimeError(f"the dashboard's {INDEX} is missing from the package")
    return MappingProxyType(assets)


async def get_index(request: web.Request) -> web.Response:
    return _send(request, request.app[ASSETS][INDEX])


async def get_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    asset = request.app[ASSETS].get(name) if name != INDEX else None
    if asset is None:
        return problem(404, f"no dashboard file {name}")
    return _send(request, asset)


@api_route
async def get_me(request: web.Request) -> web.Response:
    return json_ok({"token_name": request[TOKEN_NAME]})


def _send(request: web.Request, asset: Asset) -> web.Response:
    headers = {**_HEADERS, "ETag": asset.etag}
    if asset.etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers
    )


def _etags(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",")}
