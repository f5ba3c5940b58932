"""A warning's report, figured out from its own records (`make_report`), and a drill's
figures kept for the drills after it (`drill_figures_of`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.model import Level
from dispatcher.core.policy import LevelPolicy
from dispatcher.core.roster import Roster
from dispatcher.report import figures, reach
from dispatcher.report.figures import GridFigures, Township
from dispatcher.report.records import Records, WarningRecord, read_records
from dispatcher.store.drill_figures import DrillFigures, drill_history, save_drill_figures
from dispatcher.store.place_views import area_names, place_names
from dispatcher.store.policies import level_policy
from dispatcher.store.queries import warning_status
from dispatcher.store.roster_versions import read_roster

DRILLS_COMPARED = 5


class StoredRosters(Protocol):
    """Any stored roster version by its digest (the engine's roster book is one)."""

    async def get(self, conn: AsyncConnection, roster_id: str) -> Roster: ...


class SnapshotRosters:
    """The roster versions as the store keeps them, for a report made outside the service
    (no roster book there): `jiaoying report`, the end of a drill."""

    async def get(self, conn: AsyncConnection, roster_id: str) -> Roster:
        roster = await read_roster(conn, roster_id)
        if roster is None:
            raise KeyError(roster_id)
        return roster


@dataclass(frozen=True, slots=True)
class Report:
    warning: WarningRecord
    status: str
    policy: LevelPolicy
    made_at: datetime
    roster: Roster
    grids: Sequence[GridFigures]
    townships: Sequence[Township]
    totals: Mapping[str, Any]
    curve: Mapping[str, list[float]]
    unreached: Sequence[reach.Unreached]
    channels: Sequence[reach.ChannelRates]
    escalations: Sequence[Mapping[str, Any]]
    tasks: Sequence[Mapping[str, Any]]
    drills: Sequence[DrillFigures] = field(default_factory=tuple)

    @property
    def answer_within_s(self) -> float:
        return self.policy.answer_within.total_seconds()


async def make_report(
    conn: AsyncConnection, warning_id: str, rosters: StoredRosters, now: datetime
) -> Report | None:
    """The report of `warning_id` as of `now`; None for an unknown warning. Raises
    PolicyError for a stored policy that no longer validates."""
    records = await read_records(conn, warning_id)
    if records is None:
        return None
    return await _report(conn, records, rosters, now)


async def grid_states(
    conn: AsyncConnection, warning_id: str, rosters: StoredRosters, now: datetime
) -> list[GridFigures] | None:
    """Only the grids' figures and states of `warning_id` (the map, polled every second:
    no sends read, nothing stored); None for an unknown warning."""
    records = await read_records(conn, warning_id, sends=False)
    if records is None:
        return None
    warning = records.warning
    roster = await rosters.get(conn, warning.roster_id)
    policy = level_policy(warning.id, Level(warning.level), warning.policy)
    status = warning_status(warning, now)
    return figures.grid_figures(
        records,
        roster,
        policy.answer_within,
        running=status == "active",
        now=now,
        ended_at=_ended_at(warning, status, now),
    )


def _ended_at(warning: WarningRecord, status: str, now: datetime) -> datetime | None:
    """When a cancelled, cleared or expired warning stopped asking for answers; None for
    one running, or closed because every chain ran its course."""
    if status == "expired":
        return warning.expires
    if status in ("cancelled", "cleared"):
        # Its chains close at once; the close is stamped when the last one has.
        return warning.closed_at or now
    return None


async def _report(
    conn: AsyncConnection, records: Records, rosters: StoredRosters, now: datetime
) -> Report:
    warning = records.warning
    roster = await rosters.get(conn, warning.roster_id)
    policy = level_policy(warning.id, Level(warning.level), warning.policy)
    status = warning_status(warning, now)
    grids = figures.grid_figures(
        records,
        roster,
        policy.answer_within,
        running=status == "active",
        now=now,
        ended_at=_ended_at(warning, status, now),
    )
    names = {
        place["code"]: place["name"]
        for place in place_names(
            roster, [g.code for g in grids], await area_names(conn, warning.id)
        )
    }
    return Report(
        warning=warning,
        status=status,
        policy=policy,
        made_at=now,
        roster=roster,
        grids=grids,
        townships=figures.townships(grids, names),
        totals=figures.totals(grids, records),
        curve=figures.curve(records, grids),
        unreached=reach.never_reached(records, roster),
        channels=reach.channel_rates(records),
        escalations=reach.escalation_levels(records, roster, policy),
        tasks=reach.field_tasks(records, roster, policy),
    )


async def compare_drills(conn: AsyncConnection, report: Report) -> Report:
    """A drill's report with its figures stored (in the caller's transaction on `conn`) and
    the last drills of its roster beside it, oldest first, itself last. `conn` may belong
    to another database than the warning's: one that keeps the drills of many runs."""
    own = drill_figures_of(report)
    ran = await save_drill_figures(conn, own)
    drills = await drill_history(conn, own.roster_id, until=ran, limit=DRILLS_COMPARED + 1)
    earlier = [d for d in drills if d.warning_id != own.warning_id][-(DRILLS_COMPARED - 1) :]
    return replace(report, drills=(*earlier, own))


def drill_figures_of(report: Report) -> DrillFigures:
    """The figures a drill is compared by."""
    totals = report.totals
    return DrillFigures(
        warning_id=report.warning.id,
        roster_id=report.warning.roster_id,
        identifier=report.warning.identifier,
        headline=report.warning.headline,
        level=report.warning.level,
        clock_start=report.warning.clock_start,
        answer_within_s=report.answer_within_s,
        grids=totals["grids"],
        grids_met=totals["met"],
        grids_missed=totals["missed"],
        persons=totals["persons"],
        never_reached=len(report.unreached),
        all_settled_s=totals["all_settled_s"],
        made_at=report.made_at,
    )
