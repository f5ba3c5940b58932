"""`GET|POST /a/{token}`: the page behind an answer link, with one big 收到 button.

Above the button the page shows the whole warning, which the SMS could only begin:
level and colour, headline, the full instruction and description, issued and expires in
Beijing time, and the person's own grids (`dispatcher.store.answer_views`).

Only the POST from the page answers. Link scanners and chat previews GET every URL they
see; if a GET answered, a preview would answer for a person who never read the warning.
A forged, damaged or expired token gets a clear page and records nothing.

Both are rate-limited per client address (`JIAOYING_ANSWER_RATE` requests a minute, see
`dispatcher.http.ratelimit`): past it, 429 with `Retry-After`, before the token is even
looked at. A token's 80-bit MAC cannot be guessed at any rate; the limit keeps one
source from loading the store with page views and presses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dispatcher.core.links import AnswerLinks, BadLink, LinkTarget
from dispatcher.http.api import READER
from dispatcher.http.keys import REPLIES, ROSTERS
from dispatcher.http.ratelimit import RateLimit
from dispatcher.store.answer_views import WarningPage, warning_page

LINKS: web.AppKey[AnswerLinks | None] = web.AppKey("answer_links")
PAGES = web.AppKey("answer_pages", Environment)
NOW: web.AppKey[Callable[[], datetime]] = web.AppKey("answer_clock")
RATE = web.AppKey("answer_rate", RateLimit)
BEIJING = timezone(timedelta(hours=8))
_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def add_answer_routes(
    app: web.Application,
    links: AnswerLinks | None,
    templates_dir: str,
    clock: Callable[[], datetime],
    rate: RateLimit,
) -> None:
    app[LINKS] = links
    app[RATE] = rate
    app[PAGES] = Environment(
        loader=FileSystemLoader(templates_dir), autoescape=select_autoescape(["html", "j2"])
    )
    app[NOW] = clock
    app.router.add_get("/a/{token}", show_page)
    app.router.add_post("/a/{token}", press_received)


async def show_page(request: web.Request) -> web.Response:
    target = _verify(request)
    if isinstance(target, web.Response):
        return target
    page = await _warning(request, target)
    if page is None:
        return _page(request, status=404, problem="找不到这条预警")
    return _page(request, page=page)


async def press_received(request: web.Request) -> web.Response:
    target = _verify(request)
    if isinstance(target, web.Response):
        return target
    if await request.app[REPLIES].answer_link(target) is None:
        return _page(request, status=404, problem="找不到这条预警")
    page = await _warning(request, target)
    if page is None:
        return _page(request, status=404, problem="找不到这条预警")
    return _page(request, page=page)


async def _warning(request: web.Request, target: LinkTarget) -> WarningPage | None:
    async with request.app[READER].reader.connect() as conn:
        return await warning_page(
            conn, target.kind, target.id, request.app[ROSTERS], request.app[NOW]()
        )


def beijing(moment: datetime | None) -> dict[str, str] | None:
    """A moment as the page shows it: Beijing time, readable and machine-readable."""
    if moment is None:
        return None
    local = moment.astimezone(BEIJING)
    return {"text": local.strftime("%Y年%m月%d日 %H:%M"), "iso": local.isoformat()}


def _verify(request: web.Request) -> LinkTarget | web.Response:
    retry_after = request.app[RATE].retry_after(request)
    if retry_after is not None:
        return _page(
            request,
            status=429,
            problem="请求太频繁，请稍后再试",
            headers={"Retry-After": str(retry_after)},
        )
    links = request.app[LINKS]
    if links is None:
        return _page(request, status=404, problem="确认链接未启用")
    try:
        return links.verify(request.match_info["token"], request.app[NOW]())
    except BadLink as bad:
        return _page(request, status=410 if bad.expired else 403, problem=bad.reason)


def _page(
    request: web.Request,
    *,
    status: int = 200,
    page: WarningPage | None = None,
    problem: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    html = (
        request.app[PAGES]
        .get_template("zh-CN/page/answer.html.j2")
        .render(
            page=page,
            subject=page.subject if page else None,
            problem=problem,
            beijing=beijing,
        )
    )
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={**_HEADERS, **(headers or {})},
    )
