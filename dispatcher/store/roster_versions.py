"""The roster versions warnings were planned with, as the store keeps them.

Each warning stores the digest of its roster; the snapshot under that digest is what its
escalations, the status views and the ledger read, whatever roster is in force since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.canonical import roster_from_data
from dispatcher.core.roster import Roster
from dispatcher.store.chains import insert_of
from dispatcher.store.db import JSONText
from dispatcher.store.schema import roster_snapshots


class RosterVersions(Protocol):
    """What the views need of the rosters: the one in force, and any stored version.

    The engine's roster book is one; the views take it as input and never build it.
    """

    @property
    def current(self) -> Roster: ...

    async def get(self, conn: AsyncConnection, roster_id: str) -> Roster:
        """The roster version `roster_id`; raises KeyError if it was never stored."""
        ...


async def ensure_roster(
    conn: AsyncConnection, digest: str, body: dict[str, Any] | JSONText, now: datetime
) -> None:
    """Store the snapshot `digest` unless it is stored already (in the caller's transaction)."""
    present = await conn.execute(
        select(roster_snapshots.c.id).where(roster_snapshots.c.id == digest)
    )
    if present.scalar_one_or_none() is None:
        # Another replica (or this one's reload) may store the same version meanwhile.
        statement = insert_of(conn.dialect.name, roster_snapshots).values(
            id=digest, loaded_at=now, body=body
        )
        await conn.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


async def read_roster(conn: AsyncConnection, roster_id: str) -> Roster | None:
    """The stored snapshot `roster_id`, or None if it was never stored."""
    row = await conn.execute(
        select(roster_snapshots.c.body).where(roster_snapshots.c.id == roster_id)
    )
    body = row.scalar_one_or_none()
    return None if body is None else roster_from_data(body)
