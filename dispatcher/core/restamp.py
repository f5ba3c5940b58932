"""Moving a warning in time, for drills and demos: every timestamp shifted by one amount.

A shipped example was written for 2026-07-20; posted today it would be long expired.
Shifting every time (sent, effective, onset, expires and the `sent` inside references)
by the same amount keeps the warning's own timing and its links to earlier messages.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

_INFO_TIMES = ("effective", "onset", "expires")


def restamp(data: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    """A copy of JSON-form warning `data` with every timestamp moved by `shift`."""

    def moved(value: str | None) -> str | None:
        return None if value is None else (datetime.fromisoformat(value) + shift).isoformat()

    result = dict(data)
    result["sent"] = moved(data["sent"])
    result["references"] = [
        {**reference, "sent": moved(reference["sent"])} for reference in data.get("references", [])
    ]
    result["infos"] = [
        {**info, **{key: moved(info.get(key)) for key in _INFO_TIMES}}
        for info in data.get("infos", [])
    ]
    return result


def shift_to(sent: datetime, now: datetime) -> timedelta:
    """The shift that makes a warning sent at `sent` be sent at `now` (whole seconds)."""
    return timedelta(seconds=int((now - sent).total_seconds()))


_CAP_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)")


def restamp_cap(body: bytes, shift: timedelta) -> bytes:
    """CAP XML with every CAP datetime (elements and `references`) moved by `shift`.

    The result keeps each timestamp's own UTC offset, as a producer in that zone writes it.
    """

    def moved(match: re.Match[bytes]) -> bytes:
        text = match.group().decode().replace("Z", "+00:00")
        value = datetime.fromisoformat(text) + shift
        return value.isoformat().encode()

    return _CAP_TIME.sub(moved, body)
