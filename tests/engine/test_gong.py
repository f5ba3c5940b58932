"""鸣锣吹哨: a zone whose every loudspeaker play failed gets a gong task for its village
secretary, called and texted, reported done through the task API; a policy's
`task: gong` step assigns one the same way. Run through a drill: the broadcast platform's
signed play reports say 播发失败 (or it refuses a zone's play at once), the field team
reads and reports its task over HTTP."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.gong import village_secretary
from dispatcher.core.policy import parse_policy
from dispatcher.core.roster import Roster
from dispatcher.drill.run import run_drill
from dispatcher.drill.scenario import parse_scenario
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.store.db import open_database
from dispatcher.store.ledger import ledger_rows
from dispatcher.store.schema import answers, attempts, summons, tasks
from tests.engine.conftest import ROOT

ROSTER = ROOT / "examples/roster"
POLICY = ROOT / "examples/policy.yaml"
FAILING = ("441523102201", "441523102203")  # 螺溪村, 欧田村: play reports say 播发失败
REFUSED = ("441523102204",)  # 石门村: the platform refuses the play at once
SILENCED = FAILING + REFUSED
SCENARIO = f"""
name: 测试演练（两个村应急广播故障）
start: "2026-07-20T21:30:00+08:00"
warning: {{level: red, event: 暴雨红色预警, area: {{441523102: 陆河县螺溪镇}}}}
people:
  default: {{never: 0%, answer: {{voice: {{share: 100%, after: 5s-15s}}}}}}
tasks: {{gong: 1m-2m}}
broadcast_failures: [{", ".join(FAILING)}]
broadcast_refused: [{", ".join(REFUSED)}]
duration: 12m
"""


class _Versions:
    """The drill's one roster, as the ledger reads roster versions."""

    def __init__(self, roster: Roster) -> None:
        self._roster = roster

    @property
    def current(self) -> Roster:
        return self._roster

    async def get(self, conn: AsyncConnection, roster_id: str) -> Roster:
        return self._roster


async def test_every_play_of_a_zone_failed_calls_its_secretary_to_sound_the_gong(
    tmp_path: Path,
) -> None:
    roster = load_roster(ROSTER)
    run = await run_drill(
        parse_scenario(SCENARIO),
        roster,
        load_policy(POLICY),
        roster_dir=ROSTER,
        policy_path=POLICY,
        db_path=tmp_path / "gong.db",
        seed=3,
        pace=60,
    )
    assert run.counts.get("plays_failed") == len(FAILING)
    assert run.counts.get("plays_refused") == len(REFUSED)
    db = open_database(f"sqlite+aiosqlite:///{run.db_path}")
    try:
        async with db.reader.connect() as conn:
            gongs = (await conn.execute(select(tasks).where(tasks.c.kind == "gong"))).all()
            called = (
                await conn.execute(
                    select(attempts.c.person_id, attempts.c.channel)
                    .join(summons, summons.c.id == attempts.c.summons_id)
                    .where(summons.c.kind == "gong")
                )
            ).all()
            door_knock_answers = (
                await conn.execute(select(answers).where(answers.c.via == "door_knock"))
            ).all()
            ledger = await ledger_rows(conn, run.warning_id, _Versions(roster))
    finally:
        await db.dispose()

    by_zone = {task.occasion.removeprefix("zone:"): task for task in gongs}
    assert sorted(by_zone) == sorted(SILENCED), "one gong task per silenced zone, no other"
    for zone_id, task in by_zone.items():
        zone = roster.zone(zone_id)
        assert zone is not None
        assert sorted(task.grid_codes) == sorted(zone.grid_codes)
        secretary = village_secretary(roster, zone.grid_codes)
        assert secretary is not None and task.assignee_id == secretary.id
        assert secretary.role in ("村书记", "村委会主任", "社区书记")
        assert {c for p, c in called if p == secretary.id} == {"voice", "sms"}
        assert task.status == "done"
        assert datetime.fromisoformat(task.report["sounded_at"]) >= task.created_at
        assert "鸣锣吹哨" in task.report["note"]
    assert not door_knock_answers, "a gong report answers for no grid person"
    assert ledger is not None
    events = [row.event for row in ledger]
    assert sum("鸣锣吹哨任务 gong task" in e for e in events) == len(SILENCED)
    assert sum("鸣锣吹哨报告 gong report" in e for e in events) == len(SILENCED)


def test_a_policy_step_may_assign_the_gong_to_the_village_secretary() -> None:
    text = (ROOT / "examples/policy.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "    - {after: 15m, unless: answered, escalate: supervisor, task: door_knock}",
        "    - {after: 12m, unless: answered, task: gong}\n"
        "    - {after: 15m, unless: answered, escalate: supervisor, task: door_knock}",
    )
    red = parse_policy(text).levels
    steps = [step.task for level in red.values() for step in level.steps if step.task]
    assert "gong" in steps
    roster = load_roster(ROSTER)
    # 罗洞村's secretary is a grid person there himself; 新田村's grid persons report to theirs.
    assert getattr(village_secretary(roster, ["441523100203001"]), "id", None) == "LH-100203-SJ"
    assert getattr(village_secretary(roster, ["441523100201002"]), "id", None) == "LH-100201-SJ"
