"""Which roster is in force (`GET /v1/roster`), and taking it again without a restart
(`POST /v1/roster/reload`, as SIGHUP does).

A reload reaches the one process that serves the request: with several replicas, each
is reloaded on its own (README, Deployment).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dispatcher.engine.roster_book import (
    Outcome,
    ReloadAttempt,
    RosterBook,
    RosterVersion,
)
from dispatcher.http.api import api_route, json_ok
from dispatcher.http.auth import TOKEN_NAME
from dispatcher.http.keys import ROSTER_RELOAD, ROSTERS
from dispatcher.http.problems import problem


def add_roster_routes(app: web.Application) -> None:
    app.router.add_get("/v1/roster", get_roster)
    app.router.add_post("/v1/roster/reload", post_roster_reload)


@api_route
async def get_roster(request: web.Request) -> web.Response:
    """The roster in force: where from, when, its counts and content hash; and what the
    last reload attempt did, with its problems if it was refused."""
    rosters = request.app[ROSTERS]
    return json_ok(roster_view(rosters))


@api_route
async def post_roster_reload(request: web.Request) -> web.Response:
    """Read the roster again from JIAOYING_ROSTER_DIR and check it whole: 200 when it is
    in force (or was already), 422 listing every problem when the old one stays."""
    rosters = request.app[ROSTERS]
    attempt = await request.app[ROSTER_RELOAD].reload(by=request[TOKEN_NAME])
    if attempt.outcome is Outcome.REFUSED:
        count = len(attempt.problems)
        return problem(
            422,
            f"the roster at {attempt.source} was not taken ({count} problem"
            f"{'' if count == 1 else 's'}); the roster in force stays",
            problems=list(attempt.problems),
            roster=roster_view(rosters),
        )
    return json_ok(roster_view(rosters))


def roster_view(rosters: RosterBook) -> dict[str, Any]:
    """The roster in force and the last reload attempt, as the API shows them."""
    return {
        "in_force": _version(rosters.in_force),
        "last_reload": _attempt(rosters.last_reload) if rosters.last_reload else None,
    }


def _version(version: RosterVersion) -> dict[str, Any]:
    roster = version.roster
    return {
        "digest": version.digest,
        "source": version.source,
        "loaded_at": version.loaded_at.isoformat(),
        "grids": len(roster.grids),
        "persons": len(roster.persons),
        # A zone covering several grids is one zone, however many rows list it.
        "zones": len({zone.zone_id for zone in roster.zones}),
    }


def _attempt(attempt: ReloadAttempt) -> dict[str, Any]:
    return {
        "at": attempt.at.isoformat(),
        "by": attempt.by,
        "source": attempt.source,
        "outcome": attempt.outcome.value,
        "digest": attempt.digest,
        "problems": list(attempt.problems),
    }
