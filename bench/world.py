"""What the benchmarks feed the service: rosters, policies and warnings.

Rosters are `tests.rosters.write_county` counties (20 grid persons a village, 900
villages a township). Warnings are the shipped red rainstorm warning in JSON form, moved
in time and pointed at the area a scenario needs: the whole county, or some villages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dispatcher.core.cap import parse_cap
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp, shift_to
from tests.rosters import COUNTY, County, write_county

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "warnings" / "red-rainstorm.xml"
PER_VILLAGE = 20
VILLAGES_PER_TOWN = 900
LEVELS = ("red", "orange", "yellow", "blue")


def county(directory: Path, grid_persons: int, *, wechat: bool = False) -> County:
    """A roster of exactly `grid_persons` grid persons (plus their secretaries and the
    county duty officer, who are nobody's recipients); `wechat`: each has an openid."""
    return write_county(directory, grid_persons, per_village=PER_VILLAGE, wechat=wechat)


def village_code(index: int) -> str:
    """The 12-digit code of village `index` in `write_county`'s numbering."""
    town, village = divmod(index, VILLAGES_PER_TOWN)
    return f"{COUNTY}{100 + town:03d}{100 + village:03d}"


def village_of_phone(phone: str) -> int:
    """The village of a grid person's number (`+86138` + the person's serial)."""
    return int(phone[-8:]) // PER_VILLAGE


def policy(path: Path, steps: list[str]) -> Path:
    """A policy file whose every level runs `steps` (YAML flow mappings), within an hour."""
    lines = []
    for level in LEVELS:
        lines.append(f"{level}:\n  answer_within: 1h\n  steps:")
        lines.extend(f"    - {step}" for step in steps)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SMS_ONLY = ["{after: 0s, notify: [sms]}", "{after: 1h, unless: answered, notify: [sms]}"]
"""The fan-out policy: red notifies by SMS only at step 0 (the 1 h re-notify keeps every
chain open, as a real red warning's would be, without sending anything more)."""


VOICE_ONLY = ["{after: 0s, notify: [voice]}", "{after: 1h, unless: answered, notify: [sms]}"]
"""The voice policy: red calls everyone at step 0, and nothing more within the run."""


def renotify_after(seconds: int) -> list[str]:
    """The timers policy: WeChat at once (simulate mode: no provider request), then the
    step the scenario times, an SMS re-notify to the silent at `seconds`."""
    return [
        "{after: 0s, notify: [wechat]}",
        f"{{after: {seconds}s, unless: answered, notify: [sms]}}",
    ]


def warning(identifier: str, geocodes: list[str], sent: datetime) -> bytes:
    """The example red warning as JSON: sent at `sent` (whole seconds), for `geocodes`."""
    example = parse_cap(EXAMPLE.read_bytes())
    sent = sent.replace(microsecond=0)
    data: dict[str, Any] = restamp(warning_to_data(example), shift_to(example.sent, sent))
    data["identifier"] = identifier
    info = data["infos"][0]
    info["areas"] = [
        {
            "description": f"{len(geocodes)} area(s) of 陆河县",
            "geocodes": geocodes,
            "polygons": [],
            "circles": [],
        }
    ]
    return json.dumps(data, ensure_ascii=False).encode()


def county_warning(identifier: str, sent: datetime | None = None) -> bytes:
    """The red warning for the whole county."""
    return warning(identifier, [COUNTY], sent or datetime.now(UTC))


def whole_seconds_ago(seconds: float) -> datetime:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).replace(microsecond=0)
