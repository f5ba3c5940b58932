"""The roster in force and the versions running warnings were planned with.

The service loads one roster at start; each warning stores the digest of the roster it
was planned against, so its escalations follow the supervisor chains it started with
even after the roster is replaced.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.canonical import roster_digest, roster_from_data, roster_json
from dispatcher.core.roster import Roster
from dispatcher.store.db import JSONText
from dispatcher.store.intake import ensure_roster
from dispatcher.store.schema import roster_snapshots


class RosterBook:
    def __init__(self, current: Roster) -> None:
        self.current = current
        self.current_id = roster_digest(current)
        self._known: dict[str, Roster] = {self.current_id: current}
        self._stored = False

    async def ensure_stored(self, conn: AsyncConnection, now: datetime) -> None:
        """Store the current roster's snapshot once (inside the caller's transaction)."""
        if not self._stored:
            # Written as JSON text directly: as dicts first, a province's roster would
            # cost hundreds of MB more, for this once.
            body = JSONText(roster_json(self.current))
            await ensure_roster(conn, self.current_id, body, now)
            self._stored = True

    async def get(self, conn: AsyncConnection, roster_id: str) -> Roster:
        """The roster version `roster_id`; raises KeyError if it was never stored."""
        roster = self._known.get(roster_id)
        if roster is None:
            row = await conn.execute(
                select(roster_snapshots.c.body).where(roster_snapshots.c.id == roster_id)
            )
            body = row.scalar_one_or_none()
            if body is None:
                raise KeyError(roster_id)
            roster = self._known[roster_id] = roster_from_data(body)
        return roster
