"""Writing a warning's report: `report.html` and `report.csv` in a folder.

The drill command calls `write_warning_report` at the end of every drill, `jiaoying
report` for any warning; both store a drill's figures as they go, so that later drills of
the same roster show it beside them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from dispatcher.files.grid_shapes import Ring
from dispatcher.report.build import Report, StoredRosters, compare_drills, make_report
from dispatcher.report.pages import render_report
from dispatcher.report.table import grid_table
from dispatcher.runtime.settings import shipped_templates
from dispatcher.store.db import Database

HTML_FILE = "report.html"
CSV_FILE = "report.csv"


class UnknownWarning(LookupError):
    """No warning has this id."""


async def report_of(
    database: Database,
    warning_id: str,
    *,
    rosters: StoredRosters,
    now: datetime,
    drills: Database | None = None,
) -> Report:
    """The report of `warning_id` as of `now`. A drill's figures are stored on the way, in
    `drills` if given (a database that keeps the drills of many runs, each run in its own
    store), else in `database`, and the last drills of its roster kept there are shown
    beside it. Raises UnknownWarning."""
    async with database.reader.connect() as conn:
        report = await make_report(conn, warning_id, rosters, now)
    if report is None:
        raise UnknownWarning(f"no warning with id {warning_id}")
    if report.warning.drill:
        async with (drills or database).writer.begin() as conn:
            report = await compare_drills(conn, report)
    return report


async def write_warning_report(
    database: Database,
    warning_id: str,
    folder: Path,
    *,
    rosters: StoredRosters,
    now: datetime,
    shapes: Mapping[str, Sequence[Ring]] | None = None,
    templates_dir: Path | None = None,
    drills: Database | None = None,
) -> Path:
    """Write `report.html` and `report.csv` (one row per grid) of `warning_id` into
    `folder` (made if missing) and return the HTML file's path.

    `rosters`: the stored roster versions (the engine's roster book, or any object with
    `async get(conn, roster_id) -> Roster`). `shapes`: the grids' boundaries from the
    roster folder's grids.geojson (`dispatcher.files.grid_shapes.load_grid_shapes`), else
    the map draws points. `drills`: where a drill's figures are kept and its roster's
    earlier drills are read (`report_of`); its schema must be at head (`jiaoying db
    upgrade`, or `migrate.bring_to_head`). Raises UnknownWarning for an id no warning has.
    """
    report = await report_of(database, warning_id, rosters=rosters, now=now, drills=drills)
    page = render_report(report, templates_dir or shipped_templates(), shapes or {})
    return await asyncio.to_thread(_write, folder, page, grid_table(report))


def _write(folder: Path, page: str, table: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / HTML_FILE
    html.write_text(page, encoding="utf-8")
    (folder / CSV_FILE).write_bytes(table.encode("utf-8-sig"))
    return html
