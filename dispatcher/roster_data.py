"""A roster as plain data, so every warning can keep the roster it was planned against.

A roster changes between warnings (people move, numbers change); a running warning keeps
escalating along the supervisor chains it started with. The digest names a version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from dispatcher.model import Point
from dispatcher.roster import BroadcastZone, Grid, Person, Roster


def roster_to_data(roster: Roster) -> dict[str, Any]:
    return {
        "grids": [_grid_data(g) for g in _grids(roster)],
        "persons": [_person_data(p) for p in _persons(roster)],
        "zones": [_zone_data(z) for z in _zones(roster)],
    }


def _grids(roster: Roster) -> list[Grid]:
    return sorted(roster.grids.values(), key=lambda g: g.code)


def _persons(roster: Roster) -> list[Person]:
    return sorted(roster.persons.values(), key=lambda p: p.id)


def _zones(roster: Roster) -> list[BroadcastZone]:
    return sorted(roster.zones, key=lambda z: z.zone_id)


def _grid_data(g: Grid) -> dict[str, Any]:
    return {
        "code": g.code,
        "name": g.name,
        "parent_code": g.parent_code,
        "households": g.households,
        "population": g.population,
        "location": [g.location.lat, g.location.lon] if g.location else None,
    }


def _person_data(p: Person) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "phone": p.phone,
        "wechat_openid": p.wechat_openid,
        "role": p.role,
        "grid_codes": list(p.grid_codes),
        "supervisor_id": p.supervisor_id,
    }


def _zone_data(z: BroadcastZone) -> dict[str, Any]:
    return {"zone_id": z.zone_id, "grid_code": z.grid_code, "name": z.name}


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


def roster_digest(roster: Roster) -> str:
    """A stable name for this roster's content: the sha256 of the canonical JSON of
    `roster_to_data(roster)` (keys sorted, no spaces), fed to the hash one grid or person
    at a time, so a province's roster is never held a second time as data or text."""
    digest = hashlib.sha256(b'{"grids":')
    _hash_list(digest, (_grid_data(g) for g in _grids(roster)))
    digest.update(b',"persons":')
    _hash_list(digest, (_person_data(p) for p in _persons(roster)))
    digest.update(b',"zones":')
    _hash_list(digest, (_zone_data(z) for z in _zones(roster)))
    digest.update(b"}")
    return digest.hexdigest()


def _hash_list(digest: hashlib._Hash, items: Iterable[dict[str, Any]]) -> None:
    digest.update(b"[")
    for n, item in enumerate(items):
        if n:
            digest.update(b",")
        digest.update(canonical_json(item))
    digest.update(b"]")


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no spaces, UTF-8: one text for one content."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
