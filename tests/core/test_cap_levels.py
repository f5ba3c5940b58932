"""Warning level (预警级别) from parameters, colour words and CAP severity."""

from __future__ import annotations

import pytest

from dispatcher.core.levels import level_from_text, level_from_value, resolve_level
from dispatcher.core.model import Level

RED, ORANGE, YELLOW, BLUE = Level.RED, Level.ORANGE, Level.YELLOW, Level.BLUE


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("红色", RED),
        ("红", RED),
        ("red", RED),
        ("RED", RED),
        ("Red", RED),
        ("04", RED),
        ("一级", RED),
        ("Ⅰ级", RED),
        ("I级", RED),
        ("红色预警", RED),
        ("０４", RED),
        ("橙色", ORANGE),
        ("橙", ORANGE),
        ("orange", ORANGE),
        ("03", ORANGE),
        ("二级", ORANGE),
        ("Ⅱ级", ORANGE),
        ("黄色", YELLOW),
        ("黄", YELLOW),
        ("Yellow", YELLOW),
        ("02", YELLOW),
        ("三级", YELLOW),
        ("Ⅲ级", YELLOW),
        ("蓝色", BLUE),
        ("蓝", BLUE),
        ("blue", BLUE),
        ("01", BLUE),
        ("四级", BLUE),
        ("Ⅳ级", BLUE),
        ("IV级", BLUE),
        (" 蓝色 ", BLUE),
        ("1", None),
        ("4", None),
        ("紫色", None),
        ("", None),
        ("reddish", None),
        ("05", None),
    ],
)
def test_stated_level_values(value: str, level: Level | None) -> None:
    assert level_from_value(value) is level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("暴雨红色预警", RED),
        ("陆河县气象台发布暴雨橙色预警信号", ORANGE),
        ("雷雨大风黄色预警", YELLOW),
        ("大风蓝色预警", BLUE),
        ("暴雨黄色预警升级为红色预警", RED),
        ("黄河洪水预警", None),  # 黄 alone is a place name, not a colour
        ("红水河水位上涨", None),
        ("Red rainstorm warning", None),
        ("", None),
    ],
)
def test_colour_words_in_free_text(text: str, level: Level | None) -> None:
    assert level_from_text(text) is level


P = "预警级别"


@pytest.mark.parametrize(
    ("parameters", "event", "headline", "severity", "level"),
    [
        pytest.param(
            [(P, "橙色")], "暴雨红色预警", "暴雨红色预警", "Extreme", ORANGE, id="parameter first"
        ),
        pytest.param([("Level", "Red")], "暴雨", "", "Minor", RED, id="name in any case"),
        pytest.param([("warningLevel", "04")], "暴雨", "", "Minor", RED, id="warningLevel code"),
        pytest.param([("ALERTLEVEL", "Ⅲ级")], "暴雨", "", "Minor", YELLOW, id="alertLevel grade"),
        pytest.param([("level", "03")], "暴雨", "", "Unknown", ORANGE, id="level code"),
        pytest.param(
            [(P, "未定")], "暴雨黄色预警", "", "Extreme", YELLOW, id="unrecognised value skipped"
        ),
        pytest.param(
            [(P, "未定"), (P, "蓝色")], "暴雨", "", "Extreme", BLUE, id="first recognised"
        ),
        pytest.param([("预警类型", "红色")], "暴雨", "", "Minor", BLUE, id="other names ignored"),
        pytest.param(
            [], "暴雨黄色预警", "暴雨红色预警", "Extreme", YELLOW, id="event before headline"
        ),
        pytest.param(
            [], "暴雨预警", "发布暴雨蓝色预警", "Extreme", BLUE, id="headline before severity"
        ),
        pytest.param([], "Flood", "", "Extreme", RED, id="Extreme"),
        pytest.param([], "Flood", "", "Severe", ORANGE, id="Severe"),
        pytest.param([], "Flood", "", "Moderate", YELLOW, id="Moderate"),
        pytest.param([], "Flood", "", "Minor", BLUE, id="Minor"),
        pytest.param([], "Flood", "", "Unknown", None, id="nothing names a level"),
    ],
)
def test_level_priority(
    parameters: list[tuple[str, str]], event: str, headline: str, severity: str, level: Level | None
) -> None:
    assert resolve_level(parameters, event, headline, severity) is level


def test_an_explicitly_stated_level_beats_everything() -> None:
    assert resolve_level([(P, "红色")], "暴雨红色预警", "", "Extreme", stated=BLUE) is BLUE
