"""A warning's evaluation report (叫应评估报告): what the policy promised against what
happened, per township, village and grid, as one HTML page and a CSV; the map of the
affected grids; a drill beside the earlier drills of its roster.

`records` reads a warning's own records, `figures` and `reach` judge them (pure),
`charts` and `map` lay them out (pure), `pages` and `table` render them, `build` puts a
report together and `writer` writes its files.
"""

from dispatcher.report.build import SnapshotRosters, StoredRosters
from dispatcher.report.writer import UnknownWarning, report_of, write_warning_report

__all__ = [
    "SnapshotRosters",
    "StoredRosters",
    "UnknownWarning",
    "report_of",
    "write_warning_report",
]
