"""`jiaoying report WARNING_ID [--out DIR]`: a warning's evaluation report from the
database the settings name (`JIAOYING_DB_URL`), no running service needed.

Writes `report.html` and `report.csv` into DIR (default `var/reports/WARNING_ID`) and
prints the HTML file's path. The map draws the grids' boundaries where the roster folder
(`JIAOYING_ROSTER_DIR`) has a grids.geojson. A drill's figures are kept in the same
database, or with `--drills URL` in one that keeps the drills of many runs (each drill
runs in a store of its own): created or brought to this jiaoying's schema first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from dispatcher.files.grid_shapes import load_grid_shapes
from dispatcher.report import SnapshotRosters, UnknownWarning, write_warning_report
from dispatcher.runtime.settings import settings_or_exit
from dispatcher.store import migrate
from dispatcher.store.db import open_database

REPORTS = Path("var/reports")


def report(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    folder: Path = args.out or REPORTS / args.warning_id
    shapes = load_grid_shapes(settings.roster_dir)

    async def run() -> Path:
        db = open_database(settings.db_url)
        drills = open_database(args.drills) if args.drills else None
        try:
            await migrate.check(db)
            if drills is not None:
                await migrate.bring_to_head(drills, datetime.now(UTC))
            return await write_warning_report(
                db,
                args.warning_id,
                folder,
                rosters=SnapshotRosters(),
                now=datetime.now(UTC),
                shapes=shapes,
                templates_dir=settings.templates_dir,
                drills=drills,
            )
        finally:
            await db.dispose()
            if drills is not None:
                await drills.dispose()

    try:
        html = asyncio.run(run())
    except (UnknownWarning, migrate.SchemaMismatch) as error:
        print(f"jiaoying: {error}", file=sys.stderr)
        return 1
    print(html)
    return 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "report", help="a warning's evaluation report (HTML and CSV) from the database"
    )
    command.add_argument("warning_id", metavar="WARNING_ID")
    command.add_argument(
        "--out", type=Path, help="folder for report.html and report.csv (var/reports/ID)"
    )
    command.add_argument(
        "--drills",
        metavar="DB_URL",
        help="a database keeping the figures of the drills of many runs, to compare with",
    )
    command.set_defaults(run=report)
