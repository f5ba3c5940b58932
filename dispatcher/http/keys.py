"""Application keys shared by the route modules (callbacks, status API, answer page)."""

from __future__ import annotations

from aiohttp import web

from dispatcher.engine.replies import Replies

REPLIES = web.AppKey("replies", Replies)
