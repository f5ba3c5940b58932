"""The status API (bearer token): what the duty officer watches during a warning.

`add_status_routes` registers every route of it; the operator's actions (answers, task
reports), the ledger and the OpenAPI document live in their own modules.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from aiohttp import web

from dispatcher.core.machine import OPEN_STATES, RecipientState
from dispatcher.core.model import Level
from dispatcher.http.api import (
    CLOCK,
    READER,
    BadRequest,
    api_route,
    choice_of,
    cursor_of,
    encode_cursor,
    flag_of,
    json_ok,
    limit_of,
    text_of,
)
from dispatcher.http.keys import ROSTERS
from dispatcher.http.ledger_csv import get_ledger
from dispatcher.http.openapi import get_openapi
from dispatcher.http.operator_entries import get_tasks, post_answer, post_task_report
from dispatcher.http.problems import problem
from dispatcher.http.report_routes import add_report_routes
from dispatcher.store.dead_letter_views import list_dead_letters
from dispatcher.store.queries import WarningFilter, list_warnings, warning_summary
from dispatcher.store.recipient_views import grid_status, list_recipients

__all__ = ["CLOCK", "READER", "add_status_routes", "get_warning"]

# `state=silent` is shorthand for the states still waiting for an answer (未叫醒名单).
SILENT = "silent"
STATE_NAMES = frozenset(state.value for state in RecipientState)


class Source(StrEnum):
    HTTP = "http"
    AMQP = "amqp"


def add_status_routes(app: web.Application) -> None:
    """Register the whole status API on `app` (each route requires a bearer token)."""
    app.router.add_get("/v1/warnings", get_warnings)
    app.router.add_get("/v1/warnings/{warning_id}", get_warning)
    app.router.add_get("/v1/warnings/{warning_id}/recipients", get_recipients)
    app.router.add_post("/v1/warnings/{warning_id}/answers", post_answer)
    app.router.add_get("/v1/warnings/{warning_id}/ledger.csv", get_ledger)
    app.router.add_get("/v1/grids/{code}/status", get_grid_status)
    app.router.add_get("/v1/tasks", get_tasks)
    app.router.add_post("/v1/tasks/{task_id}/report", post_task_report)
    app.router.add_get("/v1/dead-letters", get_dead_letters)
    app.router.add_get("/v1/openapi.json", get_openapi)
    add_report_routes(app)


@api_route
async def get_warnings(request: web.Request) -> web.Response:
    """Warnings newest first; `active`, `level`, `drill`, `identifier` narrow the list."""
    level = choice_of(request, "level", Level)
    where = WarningFilter(
        active=flag_of(request, "active"),
        level=level.value if level else None,
        drill=flag_of(request, "drill"),
        identifier=text_of(request, "identifier"),
    )
    limit = limit_of(request)
    cursor = cursor_of(request, (str, str))
    after = (_moment(cursor[0]), cursor[1]) if cursor else None
    async with request.app[READER].reader.connect() as conn:
        items, last = await list_warnings(
            conn, where, request.app[CLOCK](), limit=limit, after=after
        )
    following = encode_cursor((last[0].isoformat(), last[1])) if last else None
    return json_ok({"warnings": items, "next": following})


@api_route
async def get_warning(request: web.Request) -> web.Response:
    warning_id = request.match_info["warning_id"]
    rosters = request.app[ROSTERS]
    async with request.app[READER].reader.connect() as conn:
        summary = await warning_summary(conn, warning_id, request.app[CLOCK](), rosters)
    if summary is None:
        return problem(404, f"no warning with id {warning_id}")
    return json_ok(summary)


@api_route
async def get_recipients(request: web.Request) -> web.Response:
    """The warning's recipients in plan order; `state` (comma-separated, or `silent`) and
    `grid` (a grid code prefix) narrow the list."""
    warning_id = request.match_info["warning_id"]
    states = _states(request.query.get("state"))
    grid = text_of(request, "grid", max_length=64)
    limit = limit_of(request)
    cursor = cursor_of(request, (int,))
    rosters = request.app[ROSTERS]
    async with request.app[READER].reader.connect() as conn:
        found = await list_recipients(
            conn,
            warning_id,
            rosters,
            states=states,
            grid=grid,
            limit=limit,
            after=cursor[0] if cursor else None,
        )
    if found is None:
        return problem(404, f"no warning with id {warning_id}")
    items, last = found
    following = encode_cursor((last,)) if last is not None else None
    return json_ok({"warning_id": warning_id, "recipients": items, "next": following})


@api_route
async def get_grid_status(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    rosters = request.app[ROSTERS]
    async with request.app[READER].reader.connect() as conn:
        status = await grid_status(conn, code, rosters, request.app[CLOCK]())
    if status is None:
        return problem(404, f"no grid {code} in the roster or in an active warning")
    return json_ok(status)


@api_route
async def get_dead_letters(request: web.Request) -> web.Response:
    """Refused inputs newest first; `warning` keeps those about one warning, `source` those
    that came over one way in."""
    warning_id = text_of(request, "warning", max_length=32)
    source = choice_of(request, "source", Source)
    limit = limit_of(request)
    cursor = cursor_of(request, (int,))
    async with request.app[READER].reader.connect() as conn:
        items, last = await list_dead_letters(
            conn,
            warning_id=warning_id,
            source=source.value if source else None,
            limit=limit,
            after=cursor[0] if cursor else None,
        )
    following = encode_cursor((last,)) if last is not None else None
    return json_ok({"dead_letters": items, "next": following})


def _states(text: str | None) -> set[str] | None:
    if text is None:
        return None
    states: set[str] = set()
    for part in text.split(","):
        name = part.strip()
        if name == SILENT:
            states.update(OPEN_STATES)
        elif name in STATE_NAMES:
            states.add(name)
        else:
            allowed = ", ".join([*(s.value for s in RecipientState), SILENT])
            raise BadRequest(f"state must be one or more of: {allowed}", parameter="state")
    return states


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest("cursor is not one this API gave out", parameter="cursor")
    return moment
