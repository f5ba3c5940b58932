"""Columns line up on screen when names are Chinese: a CJK character takes two columns."""

from __future__ import annotations

import pytest

from dispatcher.cli.columns import display_width, pad, table


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("", 0),
        ("abc", 3),
        ("黄伟明", 6),
        ("【红色预警】", 12),
        ("138****0001", 11),
        ("ＡＢ", 4),  # fullwidth letters
        ("é", 1),  # e and a combining acute accent
        ("人民社区第一网格(A角)", 21),
        ("阿卜杜热合曼·买买提", 19),  # the middle dot is narrow
    ],
)
def test_display_width(text: str, width: int) -> None:
    assert display_width(text) == width


def test_a_table_of_chinese_and_latin_lines_up() -> None:
    lines = table(
        [
            ["姓名", "电话", "网格"],
            ["黄伟明", "138****0001", "人民社区第一网格"],
            ["Maria Gonzalez", "139****0007", "Meyerland"],
            ["阿卜杜热合曼·买买提", "—", "新田村第一网格"],
        ]
    )
    second_column = [line.index("1") if "1" in line else None for line in lines[1:]]
    starts = {
        display_width(line[: line.index(cell)])
        for line, cell in zip(lines, ["电话", "138****0001", "139****0007", "—"], strict=True)
    }
    assert len(starts) == 1, lines
    assert second_column
    assert all(not line.endswith(" ") for line in lines)


def test_pad_never_cuts() -> None:
    assert pad("黄伟明", 4) == "黄伟明"
    assert pad("黄伟明", 8) == "黄伟明  "
