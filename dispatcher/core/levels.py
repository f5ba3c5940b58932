"""Warning level (预警级别) from what producers actually write.

CAP itself has no level, only `severity`. Chinese producers state the level in a
parameter (`预警级别`), in the event name (`暴雨红色预警`), or as a GB-style grade
(`Ⅰ级`); the downstream platforms use two-digit codes (`04` is red). `resolve_level`
tries these in that order, so an explicit statement always beats an inference.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from dispatcher.core.model import Level

LEVEL_PARAMETER_NAMES = frozenset({"level", "预警级别", "warninglevel", "alertlevel"})
"""Parameter names (compared case-insensitively) whose value states the level."""

SEVERITY_LEVELS = {
    "Extreme": Level.RED,
    "Severe": Level.ORANGE,
    "Moderate": Level.YELLOW,
    "Minor": Level.BLUE,
}

_WORDS = {
    Level.RED: ("红色", "红", "red", "04", "一级", "i级"),
    Level.ORANGE: ("橙色", "橙", "orange", "03", "二级", "ii级"),
    Level.YELLOW: ("黄色", "黄", "yellow", "02", "三级", "iii级"),
    Level.BLUE: ("蓝色", "蓝", "blue", "01", "四级", "iv级"),
}
_VALUE_LEVELS = {word: level for level, words in _WORDS.items() for word in words}

# Only the two-character colour words are searched in free text: a bare 黄 or 红 also
# occurs in place and river names (黄河, 红水河), which must not set a level.
_TEXT_COLOURS = {level.chinese: level for level in Level}


def _fold(value: str) -> str:
    # NFKC folds full-width digits and the Roman numeral characters (Ⅱ → II) that
    # GB-style grades are written with; casefold then makes RED, Red and red one word.
    return unicodedata.normalize("NFKC", value).strip().casefold()


def level_from_value(value: str) -> Level | None:
    """The level a stated value names (`红色`, `Red`, `04`, `Ⅰ级`, `橙色预警` …), else None."""
    return _VALUE_LEVELS.get(_fold(value).removesuffix("预警").strip())


def level_from_text(text: str) -> Level | None:
    """The level named by a Chinese colour word in free text such as `暴雨红色预警`.

    When a text names several colours (`黄色预警升级为红色预警`), the highest wins:
    warning too many people is the safer mistake than warning too few.
    """
    found = [level for word, level in _TEXT_COLOURS.items() if word in text]
    return max(found, key=lambda level: level.rank) if found else None


def is_level_parameter(name: str) -> bool:
    """True when a parameter with this name states the warning level."""
    return _fold(name) in LEVEL_PARAMETER_NAMES


def resolve_level(
    parameters: Iterable[tuple[str, str]],
    event: str,
    headline: str,
    severity: str,
    *,
    stated: Level | None = None,
) -> Level | None:
    """The warning level of one info block, or None when nothing names one.

    Priority: `stated` (the JSON form's explicit `level`), then the first level
    parameter whose value is recognised, then a colour word in `event`, then in
    `headline`, then the CAP `severity` (Extreme → red … Minor → blue; Unknown → None).
    """
    if stated is not None:
        return stated
    for name, value in parameters:
        if is_level_parameter(name) and (level := level_from_value(value)) is not None:
            return level
    return level_from_text(event) or level_from_text(headline) or SEVERITY_LEVELS.get(severity)
