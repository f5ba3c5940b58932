"""A CSV table as spreadsheets save it: UTF-8 (with or without BOM), a fixed header, one
row at a time with the physical line it starts on, every problem reported by line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dispatcher.core.roster import Report, Row

if TYPE_CHECKING:
    from _csv import Reader

__all__ = ["header_problem", "read_table"]


def read_table(path: Path, columns: tuple[str, ...], report: Report) -> Iterator[Row] | None:
    """Rows of one CSV file as (physical line, cells by column); None if unreadable."""
    if not path.is_file():
        report(0, "required file is missing")
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        report(line, "not UTF-8 (saved as GBK/ANSI?); save it as 'CSV UTF-8'")
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    if tuple(header) != columns:
        report(1, header_problem(header, columns))
        return None
    return _rows(reader, columns, report)


def _rows(reader: Reader, columns: tuple[str, ...], report: Report) -> Iterator[Row]:
    """The rows after the header, one at a time: a province's roster is never held whole
    as text cells besides its persons and grids."""
    line = reader.line_num + 1
    for cells in reader:
        # A quoted cell may span lines: the row is reported at the line it starts on.
        row_line, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            hint = " (a comma inside a cell must be quoted)" if len(cells) > len(columns) else ""
            report(row_line, f"expected {len(columns)} cells, found {len(cells)}{hint}")
            continue
        yield row_line, {c: cell.strip() for c, cell in zip(columns, cells, strict=True)}


def header_problem(header: list[str], columns: tuple[str, ...]) -> str:
    expected = f"header must be {','.join(columns)}"
    if not any(header):
        return f"{expected}; the first line is empty"
    missing = ", ".join(col for col in columns if col not in header)
    extra = ", ".join(repr(col) for col in header if col not in columns)
    pairs = (("missing", missing), ("unexpected", extra))
    details = [f"{what} {names}" for what, names in pairs if names]
    return f"{expected}; " + ("; ".join(details) or "columns are out of order")
