"""Durations as operators write them in policy files: `90s`, `3m`, `1h30m`, `0s`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)([smh])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smh])+")
_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> timedelta:
    """Return the duration `text` names; raise ValueError with a reason if it is not one."""
    compact = text.strip().replace(" ", "")
    if not _WHOLE.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration (use s, m or h, e.g. 30s, 3m, 1h30m)")
    seconds = sum(float(number) * _SECONDS[unit] for number, unit in _PART.findall(compact))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest `1h30m`-style text for `value`; `parse_duration` reads it back."""
    total = round(value.total_seconds(), 3)
    if total == 0:
        return "0s"
    whole = int(total)
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = round(total - whole, 3)
    second_text = f"{seconds + fraction:g}" if fraction else str(seconds)
    parts = [
        (str(hours), "h", hours),
        (str(minutes), "m", minutes),
        (second_text, "s", seconds + fraction),
    ]
    return "".join(f"{text}{unit}" for text, unit, number in parts if number)
