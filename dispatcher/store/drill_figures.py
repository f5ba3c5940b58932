"""Each drill's figures (演练), kept so that the drills of one roster can be compared.

A drill's report writes them (`save_drill_figures`), and writes them again when it is
made later with more records; `drill_history` gives the last drills of a roster, and
`list_drills` every drill for `GET /v1/drills`. Drills are in the order they ran, which is
when their figures were first made (a drill's report is made at its end): not by their
warnings' clock, since a county runs one scenario file, with its fixed start, many times.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.store.chains import insert_of
from dispatcher.store.schema import drill_figures

__all__ = ["DrillFigures", "drill_history", "list_drills", "save_drill_figures"]


@dataclass(frozen=True, slots=True)
class DrillFigures:
    """One drill at a glance. `all_settled_s`: seconds from the warning's start until every
    grid had answered or had a door-knock task under way; None when some grid never did."""

    warning_id: str
    roster_id: str
    identifier: str
    headline: str
    level: str
    clock_start: datetime
    answer_within_s: float
    grids: int
    grids_met: int
    grids_missed: int
    persons: int
    never_reached: int
    all_settled_s: float | None
    made_at: datetime  # when the figures were first made: when the drill ran

    @property
    def never_reached_share(self) -> float:
        return self.never_reached / self.persons if self.persons else 0.0

    def view(self) -> dict[str, Any]:
        """The JSON form of `GET /v1/drills`."""
        data = asdict(self)
        data["clock_start"] = self.clock_start.isoformat()
        data["made_at"] = self.made_at.isoformat()
        data["never_reached_share"] = round(self.never_reached_share, 4)
        return data


async def save_drill_figures(conn: AsyncConnection, figures: DrillFigures) -> datetime:
    """Store `figures`, replacing what an earlier report of the same drill stored but the
    time they were first made, which is returned: the drill's place among the others."""
    values = asdict(figures)
    statement = insert_of(conn.dialect.name, drill_figures).values(**values)
    kept = {key: value for key, value in values.items() if key not in ("warning_id", "made_at")}
    await conn.execute(statement.on_conflict_do_update(index_elements=["warning_id"], set_=kept))
    stored = select(drill_figures.c.made_at).where(drill_figures.c.warning_id == figures.warning_id)
    ran: datetime = (await conn.execute(stored)).scalar_one()
    return ran


async def drill_history(
    conn: AsyncConnection, roster_id: str, *, until: datetime, limit: int
) -> list[DrillFigures]:
    """The last `limit` drills of roster `roster_id` that ran no later than `until`,
    oldest first (the order a county reads its progress in)."""
    rows = await conn.execute(
        select(drill_figures)
        .where(drill_figures.c.roster_id == roster_id, drill_figures.c.made_at <= until)
        .order_by(drill_figures.c.made_at.desc())
        .limit(limit)
    )
    return [DrillFigures(**row._mapping) for row in reversed(rows.all())]


async def list_drills(
    conn: AsyncConnection, *, roster_id: str | None, limit: int
) -> list[DrillFigures]:
    """The newest `limit` drills, of one roster if `roster_id` is given."""
    statement = select(drill_figures)
    if roster_id is not None:
        statement = statement.where(drill_figures.c.roster_id == roster_id)
    rows = await conn.execute(statement.order_by(drill_figures.c.made_at.desc()).limit(limit))
    return [DrillFigures(**row._mapping) for row in rows]
