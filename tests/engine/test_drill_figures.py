"""Drills are compared in the order they ran: a county runs one scenario file, with its
fixed start, again and again, so the warnings' clock cannot order them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dispatcher.store import migrate
from dispatcher.store.db import open_database
from dispatcher.store.drill_figures import (
    DrillFigures,
    drill_history,
    list_drills,
    save_drill_figures,
)

SCENARIO_START = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)  # 10:00 Beijing, the file's start
RAN = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)


def _drill(warning_id: str, clock_late_s: int, made_at: datetime) -> DrillFigures:
    return DrillFigures(
        warning_id=warning_id,
        roster_id="r1",
        identifier=f"DRILL-{warning_id}",
        headline="【演练】暴雨红色预警",
        level="red",
        clock_start=SCENARIO_START + timedelta(seconds=clock_late_s),
        answer_within_s=300.0,
        grids=13,
        grids_met=12,
        grids_missed=1,
        persons=18,
        never_reached=2,
        all_settled_s=None,
        made_at=made_at,
    )


async def test_a_later_run_sees_the_earlier_one_whatever_their_clocks(tmp_path: Path) -> None:
    db = open_database(f"sqlite+aiosqlite:///{tmp_path}/drills.db")
    try:
        await migrate.bring_to_head(db, RAN)
        first = _drill("first", clock_late_s=90, made_at=RAN)  # its world was slow to start
        second = _drill("second", clock_late_s=30, made_at=RAN + timedelta(minutes=5))
        async with db.writer.begin() as conn:
            assert await save_drill_figures(conn, first) == RAN
            ran = await save_drill_figures(conn, second)
            history = await drill_history(conn, "r1", until=ran, limit=5)
        assert [d.warning_id for d in history] == ["first", "second"]

        # The first drill's report made again later, with more records: its place stays.
        again = replace(first, grids_met=13, made_at=RAN + timedelta(hours=1))
        async with db.writer.begin() as conn:
            assert await save_drill_figures(conn, again) == RAN
            before_second = await drill_history(conn, "r1", until=RAN, limit=5)
            newest_first = await list_drills(conn, roster_id=None, limit=5)
        assert [(d.warning_id, d.grids_met) for d in before_second] == [("first", 13)]
        assert [d.warning_id for d in newest_first] == ["second", "first"]
    finally:
        await db.dispose()
