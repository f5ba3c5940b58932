"""Aligned columns for a terminal, where a Chinese character takes two columns.

Pure. Terminals draw East Asian wide and fullwidth characters (Unicode East Asian Width W
and F: 汉字, 【】, fullwidth digits) two columns wide, and combining marks take none; a
table padded by `len` comes out ragged as soon as a name is Chinese.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def display_width(text: str) -> int:
    """How many terminal columns `text` takes."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` columns (never cut)."""
    return text + " " * max(0, width - display_width(text))


def table(rows: Sequence[Sequence[str]], *, indent: str = "  ", gap: str = "  ") -> list[str]:
    """The rows as lines whose columns line up on screen; the last column is not padded."""
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    widths = [
        max((display_width(row[index]) for row in rows if index < len(row)), default=0)
        for index in range(columns)
    ]
    lines = []
    for row in rows:
        cells = [
            cell if index == len(row) - 1 else pad(cell, widths[index])
            for index, cell in enumerate(row)
        ]
        lines.append((indent + gap.join(cells)).rstrip())
    return lines
