"""SIGHUP on a real `jiaoying serve` takes the roster again and does not end the service.

The service sends through the Twilio stand-in (a real provider, as far as it knows). The
township's roster changes three times under it, each followed by a SIGHUP: a new grid
person (taken: the next warning reaches her), a broken file (refused, every problem in
the log, the service goes on with the roster it had), and the example roster copied into
the roster's place (refused: a real provider never runs on it).
"""

from __future__ import annotations

import csv
import shutil
import signal
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.conftest import bounded
from tests.reliability.harness import (
    EXAMPLES,
    Api,
    Serve,
    eventually,
    serve_env,
    twilio_env,
    village,
    warning_json,
)
from tests.rosters import write_county
from tests.standins.twilio import TwilioStandIn

POLICY = """
red: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
orange: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
"""
NEW_PHONE = "+8613700137001"


async def roster_view(api: Api) -> dict[str, Any]:
    status, body = await api.get("/v1/roster")
    assert status == 200, body
    view: dict[str, Any] = body
    return view


async def hang_up(serve: Serve, api: Api, attempts_before: int) -> dict[str, Any]:
    """SIGHUP, and the roster's view once the reload it asked for is done."""
    assert serve.process is not None
    serve.process.send_signal(signal.SIGHUP)

    async def done() -> dict[str, Any] | None:
        reloads = [
            line for line in serve.log_lines() if str(line.get("event")).startswith("roster reload")
        ]
        return await roster_view(api) if len(reloads) > attempts_before else None

    view: dict[str, Any] = await eventually(done, within=20)
    assert serve.process.poll() is None, f"SIGHUP ended the service: {serve.tail()}"
    ready, checks = await api.ready()
    assert ready, checks
    return view


@bounded(120)
async def test_sighup_reloads_the_roster_and_the_service_goes_on(tmp_path: Path) -> None:
    county = write_county(tmp_path / "roster", 40, per_village=20)
    persons = county.directory / "persons.csv"
    async with TwilioStandIn() as standin, aiohttp.ClientSession() as http:
        env = serve_env(tmp_path, roster=county.directory, policy=POLICY, extra=twilio_env(standin))
        serve = Serve(env, tmp_path / "serve.log")
        api = Api(http, serve.url)
        serve.start()
        try:
            await serve.until_ready(http)
            started = (await roster_view(api))["in_force"]
            assert started["persons"] == 1 + 2 + 40

            # A new grid person joins the first village's first grid.
            with persons.open("a", encoding="utf-8", newline="") as file:
                csv.writer(file).writerow(
                    [
                        "wg-new-1",
                        "欧阳晓雯",
                        NEW_PHONE,
                        "",
                        "网格员(B角)",
                        f"{village(0)}001",
                        "sj00000",
                    ]
                )
            taken = await hang_up(serve, api, 0)
            assert taken["last_reload"]["outcome"] == "loaded"
            assert taken["last_reload"]["by"] == "SIGHUP"
            assert taken["in_force"]["persons"] == started["persons"] + 1
            assert taken["in_force"]["digest"] != started["digest"]
            status, body = await api.post("/v1/warnings", warning_json("after-hup", [village(0)]))
            assert status == 202, body
            await eventually(lambda: NEW_PHONE in {m.to for m in standin.messages.values()})

            # A broken roster: refused whole, the service goes on with the one it had.
            good = persons.read_text(encoding="utf-8")
            persons.write_text(good + "wg-new-1,重复的人,13700137002,,网格员,,sj00000\n")
            refused = await hang_up(serve, api, 1)
            attempt = refused["last_reload"]
            assert attempt["outcome"] == "refused"
            assert attempt["problems"] == [
                "persons.csv:46: duplicate person id wg-new-1 (first on line 45)"
            ]
            assert refused["in_force"] == taken["in_force"]
            (logged,) = [
                line
                for line in serve.log_lines()
                if line.get("event") == "roster reload refused; the roster in force stays"
            ]
            assert logged["problems"] == attempt["problems"]
            assert logged["level"] == "error"

            # The example roster copied into the roster's place, with Twilio configured.
            shutil.copytree(EXAMPLES / "roster", county.directory, dirs_exist_ok=True)
            example = await hang_up(serve, api, 2)
            (problem,) = example["last_reload"]["problems"]
            assert problem.startswith(f"JIAOYING_ROSTER_DIR ({county.directory}) is a copy of")
            assert "Twilio is configured" in problem
            assert example["in_force"] == taken["in_force"]

            status, body = await api.post("/v1/warnings", warning_json("still-up", [village(1)]))
            assert status == 202, body
        finally:
            assert await serve.terminate() == 0
