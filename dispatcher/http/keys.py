"""Application keys shared by the route modules (callbacks, status API, answer page).

The composition root (`dispatcher.service`) sets them when it builds the engine; a route
reads what it needs through them and never imports the service.
"""

from __future__ import annotations

from aiohttp import web

from dispatcher.engine.replies import Replies
from dispatcher.engine.roster_book import RosterBook, RosterReload

REPLIES = web.AppKey("replies", Replies)
ROSTERS = web.AppKey("rosters", RosterBook)
ROSTER_RELOAD = web.AppKey("roster_reload", RosterReload)
