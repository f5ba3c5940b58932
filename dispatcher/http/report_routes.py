"""A warning's evaluation report and map, and the drills compared (bearer token).

`GET /v1/warnings/{id}/report` the HTML page (`?format=csv` or `report.csv`: one row per
grid); `GET /v1/warnings/{id}/map` the grids placed and coloured by state for the
dashboard (polled every second: it reads no sends and stores nothing); `GET /v1/drills`
each drill's stored figures, newest first. Making a drill's report stores its figures, as
`jiaoying report` and the end of a drill do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from urllib.parse import quote

import structlog
from aiohttp import web

from dispatcher.core.errors import PolicyError, RosterError
from dispatcher.files.grid_shapes import Ring, load_grid_shapes
from dispatcher.http.api import CLOCK, READER, BadRequest, api_route, json_ok, limit_of, text_of
from dispatcher.http.auth import SETTINGS
from dispatcher.http.keys import ROSTERS
from dispatcher.http.problems import problem
from dispatcher.report import UnknownWarning, report_of
from dispatcher.report.build import Report, grid_states
from dispatcher.report.map import grid_map, map_view
from dispatcher.report.pages import render_report
from dispatcher.report.table import grid_table
from dispatcher.store.drill_figures import list_drills

log = structlog.get_logger("jiaoying.http.report")

__all__ = ["add_report_routes"]


def add_report_routes(app: web.Application) -> None:
    app.router.add_get("/v1/warnings/{warning_id}/report", get_report)
    app.router.add_get("/v1/warnings/{warning_id}/report.csv", get_report_csv)
    app.router.add_get("/v1/warnings/{warning_id}/map", get_map)
    app.router.add_get("/v1/drills", get_drills)


@api_route
async def get_report(request: web.Request) -> web.StreamResponse:
    form = request.query.get("format", "html")
    if form not in ("html", "csv"):
        raise BadRequest("format must be html or csv", parameter="format")
    if form == "csv":
        return await get_report_csv(request)
    report = await _report(request)
    if report is None:
        return _missing(request)
    page = render_report(report, request.app[SETTINGS].templates_dir, await _shapes(request))
    return web.Response(
        text=page,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


@api_route
async def get_report_csv(request: web.Request) -> web.StreamResponse:
    report = await _report(request)
    if report is None:
        return _missing(request)
    warning_id = report.warning.id
    chinese = quote(f"叫应评估-{warning_id}.csv")
    return web.Response(
        body=grid_table(report).encode("utf-8-sig"),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="jiaoying-report-{warning_id}.csv"; '
                f"filename*=UTF-8''{chinese}"
            ),
            "Cache-Control": "no-store",
        },
    )


@api_route
async def get_map(request: web.Request) -> web.StreamResponse:
    warning_id = request.match_info["warning_id"]
    try:
        async with request.app[READER].reader.connect() as conn:
            grids = await grid_states(conn, warning_id, request.app[ROSTERS], request.app[CLOCK]())
    except PolicyError as error:
        raise _unreadable(error) from None
    if grids is None:
        return _missing(request)
    gridmap = grid_map(grids, await _shapes(request))
    return json_ok(map_view(warning_id, gridmap, grids))


@api_route
async def get_drills(request: web.Request) -> web.StreamResponse:
    roster_id = text_of(request, "roster", max_length=64)
    limit = limit_of(request)
    async with request.app[READER].reader.connect() as conn:
        drills = await list_drills(conn, roster_id=roster_id, limit=limit)
    return json_ok({"drills": [drill.view() for drill in drills]})


async def _report(request: web.Request) -> Report | None:
    warning_id = request.match_info["warning_id"]
    try:
        return await report_of(
            request.app[READER],
            warning_id,
            rosters=request.app[ROSTERS],
            now=request.app[CLOCK](),
        )
    except UnknownWarning:
        return None
    except PolicyError as error:
        raise _unreadable(error) from None


def _unreadable(error: PolicyError) -> BadRequest:
    return BadRequest(f"the warning's stored policy is unreadable: {error}", status=409)


def _missing(request: web.Request) -> web.Response:
    return problem(404, f"no warning with id {request.match_info['warning_id']}")


async def _shapes(request: web.Request) -> Mapping[str, Sequence[Ring]]:
    """The grids' boundaries of the roster folder; points only when the file is unusable
    (said in the log: the map must still show who is silent)."""
    folder = request.app[SETTINGS].roster_dir
    try:
        return await asyncio.to_thread(load_grid_shapes, folder)
    except RosterError as error:
        log.warning("grid shapes unusable, drawing points", problems=list(error.problems)[:5])
        return {}
    except OSError as error:
        log.warning("grid shapes unreadable, drawing points", reason=type(error).__name__)
        return {}
