"""`jiaoying drill` end to end: the real service on a compressed clock, the simulated
providers calling back through its HTTP endpoints, the outcome read from its database.

The scenario makes people's behaviour clear-cut (answer the first call within 20 s, or
never), so what each person did can be predicted from the seed alone, and two runs with
the same seed must agree person by person, whatever the timing of either run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dispatcher.cli import main
from dispatcher.drill.outcome import SLACK, drill_outcome
from dispatcher.drill.people import Line, People
from dispatcher.drill.run import RealProviderConfigured, refuse_real_providers, run_drill
from dispatcher.drill.scenario import ScenarioError, parse_scenario
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.store.db import open_database
from dispatcher.store.schema import warnings
from tests.engine.conftest import ROOT

ROSTER = ROOT / "examples/roster"
POLICY = ROOT / "examples/policy.yaml"
CLEAR_CUT = """
name: 测试演练（接听或不接）
start: "2026-07-20T10:00:00+08:00"
warning: {level: red, event: 暴雨红色预警, area: {441523100: 河田镇, 441523101: 水唇镇}}
people:
  default: {never: 25%, answer: {voice: {share: 100%, after: 5s-20s}}}
  roles:
    镇值班员: {never: 100%}
    包村干部: {never: 100%}
    村书记: {never: 100%}
    社区书记: {never: 100%}
    村委会主任: {never: 100%}
    县应急管理局值班员: {never: 100%}
tasks: {door_knock: 1m-2m}
numbers: {wrong: 10%, switched_off: 0%}
duration: 22m
"""


async def _drill(tmp_path: Path, name: str, seed: int) -> dict[str, Any]:
    scenario = parse_scenario(CLEAR_CUT)
    run = await run_drill(
        scenario,
        load_roster(ROSTER),
        load_policy(POLICY),
        roster_dir=ROSTER,
        policy_path=POLICY,
        db_path=tmp_path / f"{name}.db",
        seed=seed,
        pace=60,
    )
    db = open_database(f"sqlite+aiosqlite:///{run.db_path}")
    try:
        async with db.reader.connect() as conn:
            figures = await drill_outcome(conn, run.warning_id)
            stored = (await conn.execute(select(warnings.c.drill))).scalar_one()
    finally:
        await db.dispose()
    assert stored is True, "a drill runs on a CAP Exercise warning, stored as a drill"
    figures["world"] = run.counts
    return figures


async def test_a_drill_answers_as_its_seed_says_and_twice_the_same(tmp_path: Path) -> None:
    roster = load_roster(ROSTER)
    people = People(roster, parse_scenario(CLEAR_CUT), seed=7)
    first = await _drill(tmp_path, "first", seed=7)
    second = await _drill(tmp_path, "second", seed=7)

    assert first["drill"] and first["level"] == "red"
    assert first["world"].get("refused_403", 0) == 0, "every simulated callback was signed right"
    # Who answered the call: exactly those the seed made pick up, on a number that works.
    called = {town["code"] for town in first["townships"]}
    assert called == {"441523100", "441523101"}
    grid_persons = [
        p for p in roster.persons.values() if p.grid_codes and p.grid_codes[0][:9] in called
    ]
    expected_voice = sum(
        1
        for p in grid_persons
        if p.phone and people.line(p) is Line.OK and people.answer(p, "voice", 0).after is not None
    )
    assert first["answered_by"] == {"voice": expected_voice}
    assert 0 < expected_voice < len(grid_persons)
    wrong = {p.id for p in grid_persons if p.phone and people.line(p) is Line.WRONG}
    never = {p["person_id"]: p["why"] for p in first["never_reached"]}
    assert wrong <= set(never), "a wrong number is never reached"
    assert all("空号" in never[p] for p in wrong)
    # Silent grids were escalated and knocked on, and the teams' reports closed them.
    silent = len(grid_persons) - expected_voice
    assert silent and sum(t["escalated"] for t in first["townships"]) > 0
    knocks = [t for t in first["tasks"] if t["kind"] == "door_knock"]
    assert knocks and all(t["status"] == "done" for t in knocks)
    assert first["answered"] == first["persons"], "door-knock reports answered the silent"
    assert first["grids_settled_in_time"] == first["grids"]
    # The service kept the drill's pace: it made the escalations as their steps fell due.
    lag = first["step_lag_seconds"]
    assert lag is not None and lag["escalations"] > 0
    assert 0 <= lag["p50"] <= lag["p99"] <= lag["max"]
    assert lag["p50"] <= SLACK.total_seconds()

    for key in ("answered_by", "never_reached", "townships", "grids", "persons"):
        assert first[key] == second[key], key


async def test_another_seed_is_another_drill(tmp_path: Path) -> None:
    roster = load_roster(ROSTER)
    scenario = parse_scenario(CLEAR_CUT)
    one, other = People(roster, scenario, 7), People(roster, scenario, 8)
    persons = list(roster.persons.values())
    assert [one.line(p) for p in persons] != [other.line(p) for p in persons] or [
        one.answer(p, "voice", 0) for p in persons
    ] != [other.answer(p, "voice", 0) for p in persons]


def test_a_scenario_with_problems_lists_every_one() -> None:
    text = """
name: 坏脚本
warning: {level: purple, event: 暴雨, area: [4415]}
people: {default: {never: 120%, answer: {fax: {share: 1}}}}
outages: [{channel: sms, from: "10:00", to: "10:20"}]
duration: soon
"""
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(text, source="bad.yaml")
    problems = "\n".join(raised.value.problems)
    for part in ("warning.level", "warning.area", "never", "fax"):
        assert part in problems, part


def test_the_clock_times_of_an_outage_need_a_start() -> None:
    text = CLEAR_CUT.replace('start: "2026-07-20T10:00:00+08:00"\n', "") + (
        'outages: [{channel: sms, from: "10:00", to: "10:20"}]\n'
    )
    with pytest.raises(ScenarioError, match="give the scenario a `start`"):
        parse_scenario(text)


@pytest.mark.parametrize(
    ("environ", "refused"),
    [
        ({"JIAOYING_TWILIO_AUTH_TOKEN": "x" * 32}, True),
        ({"JIAOYING_WECHAT_SECRET": "y" * 32}, True),
        ({"JIAOYING_ALIYUN_ACCESS_KEY_SECRET": "a" * 30}, True),
        (
            {
                "JIAOYING_TENCENT_SECRET_KEY": "t" * 32,
                "JIAOYING_TENCENT_SMS_ENDPOINT": "http://127.0.0.1:9005",
            },
            True,  # its voice endpoint is still Tencent's own
        ),
        (
            {
                "JIAOYING_BROADCAST_TOKEN": "z" * 32,
                "JIAOYING_BROADCAST_URL": "https://eb.example.gov.cn/api",
            },
            True,
        ),
        (
            {
                "JIAOYING_TWILIO_AUTH_TOKEN": "x" * 32,
                "JIAOYING_TWILIO_API_BASE": "http://127.0.0.1:9001",
            },
            False,
        ),
        ({}, False),
    ],
)
def test_a_drill_refuses_real_providers(environ: dict[str, str], refused: bool) -> None:
    if refused:
        with pytest.raises(RealProviderConfigured, match="simulated providers"):
            refuse_real_providers(environ)
    else:
        refuse_real_providers(environ)


def test_the_command_refuses_before_touching_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JIAOYING_TWILIO_AUTH_TOKEN", "t" * 32)
    db = tmp_path / "drill.db"
    scenario = ROOT / "examples/drills/red-rainstorm.yaml"
    assert main(["drill", str(scenario), "--db", str(db)]) == 1
    assert "simulated providers" in capsys.readouterr().err
    assert not db.exists()


def test_the_shipped_scenarios_are_valid() -> None:
    shipped = sorted((ROOT / "examples/drills").glob("*.yaml"))
    assert len(shipped) >= 3
    for path in shipped:
        scenario = parse_scenario(path.read_text(encoding="utf-8"), source=str(path))
        assert scenario.name
    assert json.dumps([p.name for p in shipped])


def test_the_command_ends_with_the_report_and_compares_the_drills_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "clear-cut.yaml"
    scenario.write_text(CLEAR_CUT, encoding="utf-8")
    common = ["--roster", str(ROSTER), "--policy", str(POLICY), "--speed", "60", "--seed", "7"]

    assert main(["drill", str(scenario), "--db", str(tmp_path / "one.db"), *common]) == 0
    printed = capsys.readouterr().out
    first_page = tmp_path / "one" / "report.html"
    assert f"report 评估报告: {first_page}" in printed, printed
    page = first_page.read_text(encoding="utf-8")
    assert '<span class="drill">演练</span>' in page
    assert "河田镇" in page and "水唇镇" in page
    assert page.count("（本次）") == 1

    assert main(["drill", str(scenario), "--db", str(tmp_path / "two.db"), *common, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["report"] == str(tmp_path / "two" / "report.html")
    rows = (tmp_path / "two" / "report.csv").read_text(encoding="utf-8-sig").strip().splitlines()
    assert len(rows) - 1 == figures["grids"], "the CSV: one row per grid of the drill"
    second = (tmp_path / "two" / "report.html").read_text(encoding="utf-8")
    settled = re.search(r'<tr data-drill="settled">(.*?)</tr>', second, flags=re.S)
    assert settled is not None
    assert settled.group(1).count('<td class="n">') == 2, "this drill beside the one before"
