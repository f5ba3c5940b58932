"""`jiaoying drill SCENARIO.yaml`: rehearse the county's 叫应 against simulated people and
providers, on its own roster and policy, with the policy's times compressed; then what a
duty officer reads at a glance (or `--json`), and where the run's records are."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dispatcher.cli.columns import table
from dispatcher.cli.report import report_files
from dispatcher.drill.outcome import SLACK, drill_outcome
from dispatcher.drill.run import DrillRun, refuse_real_providers, run_drill
from dispatcher.drill.scenario import BEIJING, parse_scenario
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.logs import configure_logging
from dispatcher.runtime.settings import load_settings
from dispatcher.store.db import open_database

HISTORY = "drills.db"  # beside the drills' own databases: the figures of every run


def add_command(commands: Any) -> None:
    shipped = load_settings({})  # the example roster and policy of this checkout
    roster, policy = shipped.roster_dir, shipped.policy
    drill = commands.add_parser(
        "drill", help="rehearse 叫应 on the county's roster and policy, nobody really called"
    )
    drill.add_argument("scenario", type=Path, help="the drill scenario (YAML)")
    drill.add_argument("--roster", type=Path, default=roster, help="roster directory")
    drill.add_argument("--policy", type=Path, default=policy, help="policy YAML")
    drill.add_argument("--speed", type=float, default=30.0, help="drill seconds per real second")
    drill.add_argument("--seed", type=int, default=1, help="same seed, same people")
    drill.add_argument("--db", type=Path, default=None, help="the drill's SQLite database")
    drill.add_argument(
        "--drills",
        metavar="DB_URL",
        help="the database keeping the drills of many runs, compared in each report"
        " (default: drills.db beside the drill's database)",
    )
    drill.add_argument("--json", action="store_true", help="the figures as JSON")
    drill.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    refuse_real_providers(os.environ)
    if not 1 <= args.speed <= 600:
        print("jiaoying: --speed must be between 1 and 600", file=sys.stderr)
        return 1
    scenario = parse_scenario(args.scenario.read_text(encoding="utf-8"), source=str(args.scenario))
    roster = load_roster(args.roster)
    policy = load_policy(args.policy)
    db_path = args.db or Path("var/drills") / f"drill-{datetime.now(UTC):%Y%m%d-%H%M%S}.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    # The service's log to stderr: stdout is the duty officer's summary, or the JSON.
    configure_logging(os.environ.get("JIAOYING_LOG_LEVEL", "WARNING"), sys.stderr)
    if not args.json:
        print(f"演练 drill: {scenario.name}  (×{args.speed:g}, seed {args.seed})", flush=True)
    drill = asyncio.run(
        run_drill(
            scenario,
            roster,
            policy,
            roster_dir=args.roster,
            policy_path=args.policy,
            db_path=db_path.resolve(),
            seed=args.seed,
            pace=args.speed,
        )
    )
    figures = asyncio.run(_figures(drill))
    figures["world"] = drill.counts
    drills_url = args.drills or f"sqlite+aiosqlite:///{db_path.resolve().parent / HISTORY}"
    figures["report"] = str(
        report_files(
            f"sqlite+aiosqlite:///{drill.db_path}",
            drill.warning_id,
            drill.db_path.with_suffix(""),
            roster_dir=args.roster,
            drills_url=drills_url,
        )
    )
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        print("\n".join(drill_text(figures, drill)))
    return 0


async def _figures(drill: DrillRun) -> dict[str, Any]:
    db = open_database(f"sqlite+aiosqlite:///{drill.db_path}")
    try:
        async with db.reader.connect() as conn:
            figures = await drill_outcome(conn, drill.warning_id)
    finally:
        await db.dispose()
    figures["db"] = str(drill.db_path)
    figures["speed"] = drill.pace
    figures["drill_minutes"] = round((drill.ended - drill.started).total_seconds() / 60, 1)
    figures["report_command"] = report_command(drill)
    return figures


def report_command(drill: DrillRun) -> str:
    return f"JIAOYING_DB_URL=sqlite+aiosqlite:///{drill.db_path} jiaoying report {drill.warning_id}"


def lag_lines(lag: dict[str, Any] | None) -> list[str]:
    """The service's lateness behind the drill clock, and a warning when it was more than
    the scheduler's turn: the grids' times then say how busy the machine was, not how the
    county answered."""
    if lag is None:
        return []
    lines = [
        f"escalations {lag['escalations']}: made after their step fell due by "
        f"p50 {lag['p50']:.0f} s, p99 {lag['p99']:.0f} s, max {lag['max']:.0f} s (drill time)"
    ]
    if lag["p99"] > SLACK.total_seconds():
        lines.append(
            "⚠ 本机未跟上演练倍速 this machine did not keep the drill's pace: grids may have "
            "missed the policy's time for that alone; run it again at a lower --speed, or "
            "with the machine to itself"
        )
    return lines


def drill_text(figures: dict[str, Any], drill: DrillRun) -> list[str]:
    """What the duty officer reads: per township, then the roster-fix list and the tasks."""
    start = drill.started.astimezone(BEIJING)
    end = drill.ended.astimezone(BEIJING)
    lines = [
        f"【演练 Exercise】{figures['event']} ({figures['level']}), "
        f"warning {figures['warning_id']}",
        f"drill time {start:%H:%M}–{end:%H:%M} ({figures['drill_minutes']} min)",
        f"persons {figures['persons']}, answered {figures['answered']} "
        + ", ".join(f"{via} {n}" for via, n in figures["answered_by"].items()),
        f"grids {figures['grids']}: answered or door-knock under way within "
        f"{figures['settle_within_seconds'] / 60:g} min: {figures['grids_settled_in_time']}",
        *lag_lines(figures.get("step_lag_seconds")),
        "",
    ]
    rows = [
        ["township 乡镇", "grids", "answered in time", "escalated", "door-knock", "never reached"]
    ]
    for town in figures["townships"]:
        name = f"{town['code']} {town['name'] or ''}".strip()
        rows.append(
            [
                name,
                str(town["grids"]),
                str(town["answered_in_time"]),
                str(town["escalated"]),
                str(town["door_knock"]),
                str(town["never_reached"]),
            ]
        )
    lines.extend(table(rows))
    never = figures["never_reached"]
    if never:
        lines += ["", f"never reached 未叫应到 ({len(never)}): fix the roster"]
        lines.extend(
            table(
                [
                    [p["person_id"], p["name"] or "", p["role"] or "", p["phone"] or "", p["why"]]
                    for p in never
                ]
            )
        )
    kinds: dict[str, list[int]] = {}
    for task in figures["tasks"]:
        done = kinds.setdefault(task["kind"], [0, 0])
        done[0] += 1
        done[1] += task["status"] == "done"
    if kinds:
        listed = ", ".join(f"{k} {n} ({d} reported)" for k, (n, d) in kinds.items())
        lines += ["", f"field tasks: {listed}"]
    lines += [
        "",
        f"report 评估报告: {figures['report']}",
        f"records: {figures['db']}  (again: {figures['report_command']})",
    ]
    return lines
