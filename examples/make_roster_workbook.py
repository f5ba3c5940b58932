"""Write a roster directory's CSV files as one Excel workbook, a sheet per table.

    python examples/make_roster_workbook.py examples/roster examples/roster.xlsx

Each CSV file becomes the sheet of its name without `.csv` (grids, persons,
broadcast_zones, area_aliases), its header in row 1. Codes, ids and phone numbers are
written as text and their columns formatted as text (`@`), so that Excel neither rounds
a 15-digit grid code nor drops a phone's leading `+`; counts and coordinates as numbers.
A first sheet, 说明, says how to fill the others; jiaoying ignores it.
"""

from __future__ import annotations

import argparse
import csv
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

TABLES = ("grids", "persons", "broadcast_zones", "area_aliases")
NUMBERS = {"households": int, "population": int, "lat": float, "lon": float}
FIXED_TIME = datetime(2026, 7, 1)  # the same bytes for the same roster, run after run
README = (
    "陆河县示例网格名册 (jiaoying example roster): made-up persons, never call them.",
    "One sheet per table, named as the CSV files (grids, persons, broadcast_zones, area_aliases);",
    "row 1 is the header and stays as it is. Type codes and phone numbers as text.",
    "Check a workbook with: jiaoying roster check roster.xlsx (problems read sheet!row).",
)


def write_workbook(directory: Path, target: Path) -> list[str]:
    """Write the tables of `directory` to `target`; the sheets written, in order."""
    book = Workbook()
    notes = book.create_sheet("说明", 0)
    book.remove(book.worksheets[1])  # the empty sheet every new workbook starts with
    for line in README:
        notes.append([line])
    written = []
    for table in TABLES:
        source = directory / f"{table}.csv"
        if not source.exists():
            continue
        with source.open(encoding="utf-8-sig", newline="") as file:
            rows = list(csv.reader(file))
        sheet = book.create_sheet(table)
        header = rows[0]
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows[1:]:
            sheet.append([_value(column, text) for column, text in zip(header, row, strict=True)])
        for index, column in enumerate(header, start=1):
            letter = sheet.cell(1, index).column_letter
            sheet.column_dimensions[letter].width = max(12, len(column) + 4, _widest(rows, index))
            if column not in NUMBERS:
                for (cell,) in sheet.iter_rows(min_col=index, max_col=index, min_row=2):
                    cell.number_format = "@"
        sheet.freeze_panes = "A2"
        written.append(table)
    book.properties.created = book.properties.modified = FIXED_TIME
    book.save(target)
    return written


def _value(column: str, text: str) -> object:
    kind = NUMBERS.get(column)
    if kind is None or not text.strip():
        return text
    return kind(text)


def _widest(rows: list[list[str]], index: int) -> int:
    # A Chinese character takes about two columns.
    return min(48, max(sum(2 if ord(c) > 0x2E80 else 1 for c in r[index - 1]) for r in rows) + 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path, help="the roster's CSV folder")
    parser.add_argument("workbook", type=Path, help="the .xlsx file to write")
    args = parser.parse_args()
    sheets = write_workbook(args.directory, args.workbook)
    print(f"{args.workbook}: sheets {', '.join(sheets)}")


if __name__ == "__main__":
    main()
