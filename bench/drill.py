"""The county drill at scale: `jiaoying drill` on a synthetic county (`jiaoying roster
generate`), SMS down for the whole drill, run as an operator runs it (its own process,
`--json`), timed from the command's start to its exit.

Its baseline is the drill clock's own length in real seconds (the scenario's duration at
the speed given): no run can end sooner, so the ratio says how much the service, the
simulated world and the summary add to it. The target is absolute: under 3 minutes, and
every grid answered or with a door-knock task assigned within the red policy's time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dispatcher.drill.county import write_county
from dispatcher.drill.scenario import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples/drills/county-5000-sms-down.yaml"
TARGET_SECONDS = 180.0


@dataclass
class DrillResult:
    grids: int
    persons: int
    speed: float
    seconds: float  # the command, start to exit
    floor_seconds: float  # the drill clock's length at this speed
    grids_settled_in_time: int
    answered: int
    never_reached: int
    door_knock_tasks: int
    sends: dict[str, int]
    lag_p99: float | None  # drill seconds the escalations were made after their steps fell due

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_seconds

    @property
    def met(self) -> bool:
        return self.seconds < TARGET_SECONDS and self.grids_settled_in_time == self.grids


async def run_drill_bench(work: Path, grids: int, persons: int, speed: float) -> DrillResult:
    roster = work / "county"
    write_county(roster, grids, persons)
    scenario = parse_scenario(SCENARIO.read_text(encoding="utf-8"))
    if scenario.duration is None:
        raise ValueError(f"{SCENARIO} must say how long the drill runs (duration)")
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatcher.cli",
        "drill",
        str(SCENARIO),
        "--roster",
        str(roster),
        "--db",
        str(work / "drill.db"),
        "--speed",
        str(speed),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=(work / "drill.log").open("wb"),
    )
    out, _ = await process.communicate()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"the drill failed ({process.returncode}): see {work / 'drill.log'}")
    figures = json.loads(out)
    return DrillResult(
        grids=figures["grids"],
        persons=figures["persons"],
        speed=speed,
        seconds=seconds,
        floor_seconds=scenario.duration.total_seconds() / speed,
        grids_settled_in_time=figures["grids_settled_in_time"],
        answered=figures["answered"],
        never_reached=len(figures["never_reached"]),
        door_knock_tasks=sum(1 for t in figures["tasks"] if t["kind"] == "door_knock"),
        sends=figures["world"],
        lag_p99=(figures["step_lag_seconds"] or {}).get("p99"),
    )


def drill_row(result: DrillResult) -> str:
    return (
        f"| Drill, {result.grids:,} grids / {result.persons:,} persons, SMS down, "
        f"×{result.speed:g} "
        f"({result.grids_settled_in_time:,} grids answered or knocked on in time; "
        f"{result.answered:,} answered; escalations p99 {_lag(result.lag_p99)} late) "
        f"| {result.seconds:.0f} s "
        f"| drill clock {result.floor_seconds:.0f} s | {result.ratio:.2f} "
        f"| < {TARGET_SECONDS:.0f} s, every grid | {'yes' if result.met else '**no**'} |"
    )


def _lag(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.0f} s"
