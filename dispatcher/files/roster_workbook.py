"""Reading a roster kept as one Excel workbook (`.xlsx`), as counties keep them.

One sheet per table, named as the CSV files without `.csv` (`grids`, `persons`,
`broadcast_zones`, `area_aliases`; case and spaces around the name do not matter, other
sheets, a 说明 page, are ignored), the header in row 1. The rows are validated by the core
exactly as the CSV files' are; a problem names `sheet!row`, the row Excel shows.

What Excel does to cells, undone here:

- A number typed into a text column (a phone 13900130001, a grid code) comes back as an
  int or a float: a whole number is read as its digits. Past 15 digits Excel has already
  rounded it, so it is shown as Excel does (`4.41523E+19`), and the core refuses it as
  "turned into a number by the spreadsheet".
- Text is trimmed; header cells too; rows with no value (a formatted but empty tail) are
  skipped; a date is read as ISO text.

The workbook is read in openpyxl's streaming mode (a province's roster is never held as
cells), which parses its XML through defusedxml when that is installed, as it is here.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import TypeVar

from dispatcher.core.roster import Report, Row, sheet_name
from dispatcher.files.csv_table import header_problem

__all__ = ["Workbook", "cell_text", "read_workbook"]

_EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number
T = TypeVar("T")


class Workbook:
    """An open workbook's tables, each read once and row by row; close it when done."""

    def __init__(self, path: Path) -> None:
        # Imported here: a roster kept as CSV files never loads openpyxl (about 30 MB).
        from openpyxl import load_workbook

        self._book = load_workbook(path, read_only=True, data_only=True)
        self._sheets = {name.strip().lower(): name for name in self._book.sheetnames}

    def has(self, file: str) -> bool:
        return sheet_name(file) in self._sheets

    def table(self, file: str, columns: tuple[str, ...], report: Report) -> Iterator[Row] | None:
        """The rows of the sheet of table `file` (None, reported, if it is missing or its
        header is wrong)."""
        name = self._sheets.get(sheet_name(file))
        if name is None:
            report(0, "required sheet is missing")
            return None
        sheet = self._book[name]
        rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        header_row = next(rows, (1, ()))[1]
        header = _trimmed([cell_text(cell) for cell in header_row])
        if tuple(header) != columns:
            report(1, header_problem(header, columns))
            return None
        return _rows(rows, columns, report)

    def close(self) -> None:
        self._book.close()


def read_workbook(path: Path, read: Callable[[Workbook], T], failed: Callable[[str], T]) -> T:
    """`read(workbook)` on the open workbook at `path`, closed after; `failed(reason)` when
    the file is not a workbook that can be read."""
    if path.suffix.lower() == ".xls":
        return failed("an Excel 97-2003 workbook (.xls): save it as .xlsx (Excel Workbook)")
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = Workbook(path)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        return failed(f"not an Excel workbook (.xlsx) that can be read ({type(exc).__name__})")
    try:
        return read(book)
    finally:
        book.close()


def cell_text(value: object) -> str:
    """A cell's value as the text a CSV export would hold, trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value) if len(str(abs(value))) <= _EXACT_DIGITS else f"{value:.5E}"
    if isinstance(value, float):
        if value.is_integer():
            whole = int(value)
            return str(whole) if len(str(abs(whole))) <= _EXACT_DIGITS else f"{value:.5E}"
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _trimmed(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _rows(
    rows: Iterable[tuple[int, tuple[object, ...]]], columns: tuple[str, ...], report: Report
) -> Iterator[Row]:
    for number, values in rows:
        cells = _trimmed([cell_text(value) for value in values])
        if not cells:
            continue
        if len(cells) > len(columns):
            report(number, f"expected {len(columns)} cells, found {len(cells)}")
            continue
        cells += [""] * (len(columns) - len(cells))
        yield number, dict(zip(columns, cells, strict=True))
