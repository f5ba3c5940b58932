"""The names of the places a warning reaches, township (9 digits) and village (12 digits),
for a view that groups its grids as township → village → grid.

The roster names grids, and names a township or village only where grids.csv lists it
as a row of its own. Where it does not, the warning's own areas often do (`areaDesc`
陆河县河田镇 for geocode 441523100); and a village whose grids are all named
"<village>第N网格", as townships name them, is called by that common name. A place none of
these names has no name (null), and a display shows its code.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.roster import Roster, admin_prefix
from dispatcher.store.schema import messages

TOWNSHIP_DIGITS = 9
VILLAGE_DIGITS = 12
# "新田村第三网格" → "新田村"; the number in Arabic or Chinese numerals.
_GRID_SUFFIX = re.compile(r"第[0-9〇零一二三四五六七八九十百]+网格$")


def place_names(
    roster: Roster, grid_codes: Iterable[str], area_names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Township and village places above `grid_codes`, in code order, each with its name
    (or None): from the roster, else from the warning's areas, else (villages) from the
    common name of its grids."""
    grids_of_village: dict[str, list[str]] = defaultdict(list)
    codes: dict[str, str] = {}
    for code in grid_codes:
        if len(code) > TOWNSHIP_DIGITS:
            codes[code[:TOWNSHIP_DIGITS]] = "township"
        if len(code) > VILLAGE_DIGITS:
            village = code[:VILLAGE_DIGITS]
            codes[village] = "village"
            grids_of_village[village].append(code)
    places = []
    for code in sorted(codes):
        listed = roster.grids.get(code)
        name = listed.name if listed else area_names.get(code)
        if name is None and codes[code] == "village":
            name = common_village_name(
                roster.grids[grid].name for grid in grids_of_village[code] if grid in roster.grids
            )
        places.append({"code": code, "kind": codes[code], "name": name})
    return places


def common_village_name(grid_names: Iterable[str]) -> str | None:
    """The village name its grids' names share ("新田村第一网格", "新田村第二网格" → "新田村"),
    or None when they do not all follow that pattern or do not agree."""
    stems = set()
    for name in grid_names:
        stem, count = _GRID_SUFFIX.subn("", name.strip())
        if count == 0 or not stem:
            return None
        stems.add(stem)
    return stems.pop() if len(stems) == 1 else None


async def area_names(conn: AsyncConnection, warning_id: str) -> dict[str, str]:
    """Administrative code → the description a message of the warning gave that area.

    Only an area with exactly one geocode names that code; a later message (an Update)
    overrides an earlier one's description.
    """
    names: dict[str, str] = {}
    rows = await conn.execute(
        select(messages.c.parsed).where(messages.c.warning_id == warning_id).order_by(messages.c.id)
    )
    for (parsed,) in rows:
        for info in parsed.get("infos", []):
            for area in info.get("areas", []):
                geocodes = area.get("geocodes", [])
                description = str(area.get("description", "")).strip()
                if len(geocodes) == 1 and description:
                    code = admin_prefix(str(geocodes[0]))
                    if code:
                        names[code] = description
    return names
