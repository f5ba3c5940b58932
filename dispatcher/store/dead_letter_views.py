"""Read-only view of dead letters: the inputs jiaoying refused, with the reason.

Only a short excerpt of a body is shown: a refused body may be hostile or huge, and the
full text stays in the store for whoever investigates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.phones import mask_phones_in_text
from dispatcher.store.queries import related_dead_letter
from dispatcher.store.schema import dead_letters

EXCERPT_CHARS = 200
# A UTF-8 character is at most 4 bytes: this many bytes always hold EXCERPT_CHARS of them.
_EXCERPT_BYTES = 4 * EXCERPT_CHARS


async def list_dead_letters(
    conn: AsyncConnection,
    *,
    warning_id: str | None,
    source: str | None,
    limit: int,
    after: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of dead letters, newest first, and the last one's id when there may be more."""
    query = select(dead_letters)
    if warning_id is not None:
        query = query.where(related_dead_letter(warning_id))
    if source is not None:
        query = query.where(dead_letters.c.source == source)
    if after is not None:
        query = query.where(dead_letters.c.id < after)
    rows = (await conn.execute(query.order_by(dead_letters.c.id.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    items = [
        {
            "id": row.id,
            "received_at": row.received_at.isoformat(),
            "source": row.source,
            "content_type": row.content_type,
            "reason": row.reason,
            "path": row.path,
            "size": row.size,
            "sender": row.sender,
            "identifier": row.identifier,
            "warning_id": row.warning_id,
            "excerpt": excerpt(row.excerpt),
        }
        for row in page
    ]
    return items, page[-1].id if len(rows) > limit else None


def excerpt(body: bytes) -> str:
    """The first characters of a refused body, undecodable bytes shown as U+FFFD."""
    text = body[:_EXCERPT_BYTES].decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    return mask_phones_in_text(text)
