"""A roster as plain data, so every warning can keep the roster it was planned against.

A roster changes between warnings (people move, numbers change); a running warning keeps
escalating along the supervisor chains it started with. The digest names a version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dispatcher.model import Point
from dispatcher.roster import BroadcastZone, Grid, Person, Roster


def roster_to_data(roster: Roster) -> dict[str, Any]:
    grids = [
        {
            "code": g.code,
            "name": g.name,
            "parent_code": g.parent_code,
            "households": g.households,
            "population": g.population,
            "location": [g.location.lat, g.location.lon] if g.location else None,
        }
        for g in sorted(roster.grids.values(), key=lambda g: g.code)
    ]
    persons = [
        {
            "id": p.id,
            "name": p.name,
            "phone": p.phone,
            "wechat_openid": p.wechat_openid,
            "role": p.role,
            "grid_codes": list(p.grid_codes),
            "supervisor_id": p.supervisor_id,
        }
        for p in sorted(roster.persons.values(), key=lambda p: p.id)
    ]
    zones = [
        {"zone_id": z.zone_id, "grid_code": z.grid_code, "name": z.name}
        for z in sorted(roster.zones, key=lambda z: z.zone_id)
    ]
    return {"grids": grids, "persons": persons, "zones": zones}


def roster_from_data(data: dict[str, Any]) -> Roster:
    grids = {
        g["code"]: Grid(
            code=g["code"],
            name=g["name"],
            parent_code=g["parent_code"],
            households=g["households"],
            population=g["population"],
            location=Point(*g["location"]) if g["location"] else None,
        )
        for g in data["grids"]
    }
    persons = {
        p["id"]: Person(
            id=p["id"],
            name=p["name"],
            phone=p["phone"],
            wechat_openid=p["wechat_openid"],
            role=p["role"],
            grid_codes=tuple(p["grid_codes"]),
            supervisor_id=p["supervisor_id"],
        )
        for p in data["persons"]
    }
    zones = tuple(BroadcastZone(**z) for z in data["zones"])
    return Roster(grids=grids, persons=persons, zones=zones)


def roster_digest(data: dict[str, Any]) -> str:
    """A stable name for this roster's content (sha256 of its canonical JSON)."""
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
