"""The driver's hands on the running pieces: the service's API, the stand-in's counters and
the service's SQLite file (read-only, while the service runs: WAL lets readers in)."""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.procs import API_TOKEN
from tests.waiting import eventually


@dataclass(frozen=True)
class Reports:
    """What the stand-in posts back, as Twilio does: per message `sent`, then `delivered`
    `after` seconds later (a share `undelivered`); per call, its events `after` seconds
    after it was placed, a key 1 for `key_share` of them."""

    after: float = 0.05
    undelivered: float = 0.02
    key_share: float = 0.5


@dataclass
class Stats:
    """What the stand-in saw since its last reset: SMS (time, To) and auto-answers posted
    (time, the service's HTTP status)."""

    sent: list[tuple[float, str]] = field(default_factory=list)
    answers: list[tuple[float, int]] = field(default_factory=list)
    calls: list[tuple[float, str]] = field(default_factory=list)


async def reset_standin(
    http: aiohttp.ClientSession,
    standin_url: str,
    *,
    callbacks: str | None = None,
    answer_share: float = 0.0,
    answer_after: tuple[float, float] = (1.0, 1.0),
    reports: Reports | None = None,
) -> None:
    """Clear the stand-in's counts; `callbacks`: the service (inbound SMS), `reports`: what
    it posts back for each message and call (None: nothing)."""
    config: dict[str, Any] = {
        "callbacks": callbacks,
        "answer_share": answer_share,
        "answer_after": answer_after,
    }
    if reports is not None:
        config |= {
            "report_after": reports.after,
            "undelivered": reports.undelivered,
            "key_share": reports.key_share,
        }
    async with http.post(f"{standin_url}/bench/reset", json=config) as response:
        response.raise_for_status()


async def standin_stats(http: aiohttp.ClientSession, standin_url: str) -> Stats:
    async with http.get(f"{standin_url}/bench/stats") as response:
        response.raise_for_status()
        body: dict[str, Any] = await response.json()
    return Stats(
        [(float(t), str(to)) for t, to in body["sent"]],
        [(float(t), int(status)) for t, status in body["answers"]],
        [(float(t), str(to)) for t, to in body["calls"]],
    )


@dataclass(frozen=True, slots=True)
class Count:
    sent: int  # SMS taken since the last reset
    answers: int  # auto-answers posted (the service replied, or the post failed)
    planned: int  # auto-answers scheduled
    calls: int = 0  # calls placed
    calls_done: int = 0  # calls played through, every callback of theirs answered
    reports_due: int = 0  # SMS status callbacks planned
    replies: dict[int, int] = field(default_factory=dict)  # callbacks by the answer's status

    @property
    def reports_posted(self) -> int:
        return sum(self.replies.values())

    @property
    def refused(self) -> int:
        """Callbacks the receiver did not take (another status than 200 or 204)."""
        return sum(n for status, n in self.replies.items() if status not in (200, 204))


async def standin_count(http: aiohttp.ClientSession, standin_url: str) -> Count:
    async with http.get(f"{standin_url}/bench/count") as response:
        response.raise_for_status()
        body: dict[str, Any] = await response.json()
    return Count(
        body["sent"],
        body["answers"],
        body["planned"],
        body["calls"],
        body["calls_done"],
        body["reports_due"],
        {int(status): int(n) for status, n in body["replies"].items()},
    )


async def post_warning(http: aiohttp.ClientSession, service_url: str, body: bytes) -> str:
    """POST /v1/warnings; the new warning's id (raises unless 202)."""
    async with http.post(
        f"{service_url}/v1/warnings",
        data=body,
        headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
    ) as response:
        answer: dict[str, Any] = await response.json()
        if response.status != 202:
            raise RuntimeError(f"warning refused ({response.status}): {answer}")
        return str(answer["id"])


def query(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the service's SQLite file."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def scalar(db_path: Path, sql: str, *params: Any) -> int:
    rows = query(db_path, sql, *params)
    return int(rows[0][0] or 0) if rows else 0


# The driver polls ten times a second at most: its checks read the stand-in's lists and the
# service's store, on the very cores being measured.
until = functools.partial(eventually, every=0.1)
