"""What the dashboard needs of the service: its page and files served safely without a
token, `/v1/me`, each silent person's next step (`next_step_at`) and the names of the
places (`places`). The page itself is tested in a browser (tests/browser)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from dispatcher.http.dashboard import CONTENT_SECURITY_POLICY
from tests.engine.conftest import TOKEN, Jiaoying, eventually
from tests.engine.test_status_api import RED, Api, all_told, planned_persons, replies, stored_time

SILENT = {"pending", "notified", "delivered", "unreachable"}
# The one absolute URL the files may hold: the SVG namespace, a name and never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


async def _get(jiaoying: Jiaoying, path: str, **headers: str) -> Any:
    return await jiaoying.client.get(path, headers=headers)


async def test_the_page_and_its_files_are_served_without_a_token(jiaoying: Jiaoying) -> None:
    page = await _get(jiaoying, "/")
    html = await page.text()
    assert page.status == 200
    assert page.content_type == "text/html"
    assert '<html lang="zh-CN">' in html
    csp = page.headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["Cache-Control"] == "no-cache"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert all(p.name not in html for p in jiaoying.roster.persons.values()), "no data in it"

    again = await _get(jiaoying, "/", **{"If-None-Match": page.headers["ETag"]})
    assert again.status == 304, "unchanged: the browser's copy is still good"

    linked = re.findall(r'(?:src|href)="(/ui/[^"]+)"', html)
    assert {"/ui/app.js", "/ui/dashboard.css", "/ui/icon.svg"} <= set(linked)
    modules = {"app.js"}
    seen: set[str] = set()
    while modules - seen:
        name = sorted(modules - seen)[0]
        seen.add(name)
        script = await _get(jiaoying, f"/ui/{name}")
        assert script.status == 200, name
        assert script.content_type == "text/javascript"
        modules |= set(re.findall(r'from "\./([a-z-]+\.js)"', await script.text()))
    assert len(seen) >= 8, "every module the entry point imports is served"
    for path in [*linked, *(f"/ui/{name}" for name in seen)]:
        body = await (await _get(jiaoying, path)).text()
        external = re.findall(
            r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", body.replace(SVG_NAMESPACE, "")
        )
        assert not external, f"{path} refers outside the service: {external}"
        markup = re.findall(r"\.(?:inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", body)
        assert not markup, f"{path}: data must go into the page as text only"

    for missing in ("/ui/nothing.js", "/ui/index.html", "/ui/..%2Fservice.py"):
        assert (await _get(jiaoying, missing)).status == 404, missing


async def test_me_names_the_token_and_refuses_a_wrong_one(jiaoying: Jiaoying) -> None:
    assert await Api(jiaoying).get("/v1/me") == {"token_name": "ops"}
    refused = await _get(jiaoying, "/v1/me", Authorization="Bearer not-the-token")
    assert refused.status == 401
    assert "error" in await refused.json()


async def _timers(jiaoying: Jiaoying) -> dict[str, datetime]:
    rows = await jiaoying.rows(
        "select r.person_id, t.eta from timers t join recipients r on r.id = t.recipient_id"
    )
    return {row.person_id: stored_time(row.eta) for row in rows}


async def test_a_silent_person_shows_the_next_step_then_the_expiry(
    jiaoying: Jiaoying,
) -> None:
    api = Api(jiaoying)
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))
    phone = jiaoying.roster.persons["LH-WG-001"].phone
    assert phone is not None
    await replies(jiaoying).text_from(phone, "收到")

    async def recipients() -> dict[str, dict[str, Any]]:
        page = await api.get(f"/v1/warnings/{warning_id}/recipients?limit=500")
        return {r["person_id"]: r for r in page["recipients"]}

    # The fast policy moves a timer every 1.5 s: the API read lies between two reads of
    # the timers table, so each shown time is one of the two.
    before = await _timers(jiaoying)
    shown = await recipients()
    after = await _timers(jiaoying)
    assert set(shown) == set(planned_persons(jiaoying.roster))
    assert shown["LH-WG-001"]["state"] == "answered"
    assert shown["LH-WG-001"]["next_step_at"] is None, "an answered chain has no next step"
    silent = {pid: r for pid, r in shown.items() if r["state"] in SILENT}
    assert len(silent) == len(shown) - 1
    for person_id, recipient in silent.items():
        at = datetime.fromisoformat(recipient["next_step_at"])
        assert at in {before.get(person_id), after.get(person_id)}, person_id
        assert at > datetime.fromisoformat(recipient["first_notified_at"])

    # After the last step (4.5 s) the chain is only looked at again when the warning
    # expires, to end it: the next step shown is the expiry.
    expires = (await api.get(f"/v1/warnings/{warning_id}"))["expires"]

    async def policy_ran_out() -> bool:
        current = await recipients()
        return all(r["next_step_at"] == expires for r in current.values() if r["state"] in SILENT)

    await eventually(policy_ran_out, within=9)
    assert (await recipients())["LH-WG-001"]["next_step_at"] is None


async def test_the_places_of_a_warning_are_named(jiaoying: Jiaoying) -> None:
    warning_id = (await jiaoying.post(RED))["id"]
    summary = await Api(jiaoying).get(f"/v1/warnings/{warning_id}")
    grids = {code for p in planned_persons(jiaoying.roster).values() for code in p.grid_codes}
    places = {place["code"]: place for place in summary["places"]}

    assert set(places) == {c[:9] for c in grids} | {c[:12] for c in grids}
    assert [p["code"] for p in summary["places"]] == sorted(places)
    # Townships as the warning's areas describe them; villages as their grids are named.
    assert places["441523100"] == {"code": "441523100", "kind": "township", "name": "陆河县河田镇"}
    assert places["441523101"]["name"] == "陆河县水唇镇"
    assert places["441523100001"] == {"code": "441523100001", "kind": "village", "name": "人民社区"}
    assert places["441523100201"]["name"] == "新田村"
    assert places["441523101203"]["name"] == "吉溪村"
    assert all(p["name"] for p in summary["places"]), "the example roster names every place"
    assert TOKEN not in str(summary)
