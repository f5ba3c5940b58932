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
    """The shortest `1h30m`-style text for `value` (whole seconds)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (seconds, "s")]
    return "".join(f"{number}{unit}" for number, unit in parts if number)
