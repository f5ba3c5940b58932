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


@dataclass
class Stats:
    """What the stand-in saw since its last reset: SMS (time, To) and auto-answers posted
    (time, the service's HTTP status)."""

    sent: list[tuple[float, str]] = field(default_factory=list)
    answers: list[tuple[float, int]] = field(default_factory=list)


async def reset_standin(
    http: aiohttp.ClientSession,
    standin_url: str,
    *,
    callbacks: str | None = None,
    answer_share: float = 0.0,
    answer_after: tuple[float, float] = (1.0, 1.0),
) -> None:
    config = {"callbacks": callbacks, "answer_share": answer_share, "answer_after": answer_after}
    async with http.post(f"{standin_url}/bench/reset", json=config) as response:
        response.raise_for_status()


async def standin_stats(http: aiohttp.ClientSession, standin_url: str) -> Stats:
    async with http.get(f"{standin_url}/bench/stats") as response:
        response.raise_for_status()
        body: dict[str, Any] = await response.json()
    return Stats(
        [(float(t), str(to)) for t, to in body["sent"]],
        [(float(t), int(status)) for t, status in body["answers"]],
    )


@dataclass(frozen=True, slots=True)
class Count:
    sent: int  # SMS taken since the last reset
    answers: int  # auto-answers posted (the service replied, or the post failed)
    planned: int  # auto-answers scheduled


async def standin_count(http: aiohttp.ClientSession, standin_url: str) -> Count:
    async with http.get(f"{standin_url}/bench/count") as response:
        response.raise_for_status()
        body: dict[str, int] = await response.json()
    return Count(body["sent"], body["answers"], body["planned"])


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
