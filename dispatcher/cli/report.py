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

from dispatcher.files.grid_shapes import Ring, load_grid_shapes
from dispatcher.report import SnapshotRosters, UnknownWarning, write_warning_report
from dispatcher.runtime.settings import settings_or_exit
from dispatcher.store import migrate
from dispatcher.store.db import open_database

REPORTS = Path("var/reports")


def report(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    folder: Path = args.out or REPORTS / args.warning_id
    try:
        html = report_files(
            settings.db_url,
            args.warning_id,
            folder,
            roster_dir=settings.roster_dir,
            templates_dir=settings.templates_dir,
            drills_url=args.drills,
        )
    except (UnknownWarning, migrate.SchemaMismatch) as error:
        print(f"jiaoying: {error}", file=sys.stderr)
        return 1
    print(html)
    return 0


def report_files(
    db_url: str,
    warning_id: str,
    folder: Path,
    *,
    roster_dir: Path,
    templates_dir: Path | None = None,
    drills_url: str | None = None,
) -> Path:
    """Write the report of `warning_id` from the database at `db_url` into `folder`;
    the HTML file's path. The map draws the boundaries of a roster folder's
    grids.geojson. `drills_url`: a database keeping the drills of many runs, created or
    brought to this jiaoying's schema first."""
    shapes = load_grid_shapes(roster_dir) if roster_dir.is_dir() else {}
    return asyncio.run(_report_files(db_url, warning_id, folder, shapes, templates_dir, drills_url))


async def _report_files(
    db_url: str,
    warning_id: str,
    folder: Path,
    shapes: dict[str, list[Ring]],
    templates_dir: Path | None,
    drills_url: str | None,
) -> Path:
    db = open_database(db_url)
    drills = open_database(drills_url) if drills_url else None
    try:
        await migrate.check(db)
        if drills is not None:
            await migrate.bring_to_head(drills, datetime.now(UTC))
        return await write_warning_report(
            db,
            warning_id,
            folder,
            rosters=SnapshotRosters(),
            now=datetime.now(UTC),
            shapes=shapes,
            templates_dir=templates_dir,
            drills=drills,
        )
    finally:
        await db.dispose()
        if drills is not None:
            await drills.dispose()


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
