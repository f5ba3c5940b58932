"""The drill's world in a process of its own, so the simulated people and providers do not
take the service's CPU: a county of 5,000 persons costs both about as much, and the
service alone must keep up with the drill clock.

The parent talks to it over a pipe: the child sends its base URL once started; then it
takes `("attend", service_url)`, `("quiet",)` (answered with the world's counts) and
`("stop",)`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dispatcher.drill.clock import DrillClock
from dispatcher.drill.scenario import Scenario
from dispatcher.drill.world import Credentials, World
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.logs import configure_logging

STARTUP = 60.0  # real seconds the child may take to import and load the roster


class WorldProcess:
    """The world, run by a child process; use `start`, `attend`, `quiet`, `stop`."""

    def __init__(
        self,
        roster_dir: Path,
        scenario: Scenario,
        seed: int,
        clock: DrillClock,
        credentials: Credentials,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_child,
            args=(child, roster_dir, scenario, seed, clock, credentials),
            name="jiaoying-drill-world",
            daemon=True,
        )

    async def start(self) -> str:
        self._process.start()
        return str(await self._receive(STARTUP))

    def attend(self, service_url: str) -> None:
        self._pipe.send(("attend", service_url))

    async def quiet(self) -> dict[str, int]:
        """The people stop; returns what the world counted."""
        if not self._process.is_alive():
            return {}
        self._pipe.send(("quiet",))
        counts: dict[str, int] = await self._receive(STARTUP)
        return counts

    async def stop(self) -> None:
        if self._process.is_alive():
            self._pipe.send(("stop",))
            await asyncio.to_thread(self._process.join, STARTUP)
        if self._process.is_alive():
            self._process.kill()

    async def _receive(self, seconds: float) -> Any:
        ready = await asyncio.to_thread(self._pipe.poll, seconds)
        if not ready:
            raise RuntimeError("the drill's simulated world did not answer")
        return self._pipe.recv()


def _child(
    pipe: Connection,
    roster_dir: Path,
    scenario: Scenario,
    seed: int,
    clock: DrillClock,
    credentials: Credentials,
) -> None:
    configure_logging(os.environ.get("JIAOYING_LOG_LEVEL", "WARNING"), sys.stderr)
    asyncio.run(_serve(pipe, roster_dir, scenario, seed, clock, credentials))


async def _serve(
    pipe: Connection,
    roster_dir: Path,
    scenario: Scenario,
    seed: int,
    clock: DrillClock,
    credentials: Credentials,
) -> None:
    world = World(load_roster(roster_dir), scenario, seed, clock, credentials)
    pipe.send(await world.start())
    try:
        while True:
            message = await asyncio.to_thread(pipe.recv)
            if message[0] == "attend":
                world.attend(message[1])
            elif message[0] == "quiet":
                await world.quiet()
                pipe.send(dict(world.counts))
            else:
                break
    finally:
        await world.stop()
