"""A roster in its canonical form: the plain data (and JSON) it is stored as, and its digest,
so every warning can keep the roster it was planned against.

A roster changes between warnings (people move, numbers change); a running warning keeps
escalating along the supervisor chains it started with. The digest names a version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from dispatcher.core.model import Point
from dispatcher.core.roster import AreaAlias, BroadcastZone, Grid, Person, Roster


def roster_to_data(roster: Roster) -> dict[str, Any]:
    # Aliases only when there are some: a roster without keeps the digest it had before.
    aliases = (
        {"aliases": [_alias_data(a) for a in sorted(roster.aliases)]} if roster.aliases else {}
    )
    return {
        "grids": [_grid_data(g) for g in _grids(roster)],
        "persons": [_person_data(p) for p in _persons(roster)],
        "zones": [_zone_data(row) for row in _zone_rows(roster)],
        **aliases,
    }


def _alias_data(a: AreaAlias) -> dict[str, Any]:
    return {"value_name": a.value_name, "value": a.value, "code": a.code}


def _grids(roster: Roster) -> list[Grid]:
    return sorted(roster.grids.values(), key=lambda g: g.code)


def _persons(roster: Roster) -> list[Person]:
    return sorted(roster.persons.values(), key=lambda p: p.id)


def _zone_rows(roster: Roster) -> list[tuple[BroadcastZone, str]]:
    # One row per zone and grid, as broadcast_zones.csv has them: a roster whose zones
    # each cover one grid keeps the digest it had before zones could cover several.
    return sorted(
        ((z, code) for z in roster.zones for code in z.grid_codes),
        key=lambda row: (row[0].zone_id, row[1]),
    )


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


def _zone_data(row: tuple[BroadcastZone, str]) -> dict[str, Any]:
    zone, grid_code = row
    return {"zone_id": zone.zone_id, "grid_code": grid_code, "name": zone.name}


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
    grids_of: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for z in data["zones"]:
        grids_of.setdefault(z["zone_id"], []).append(z["grid_code"])
        names[z["zone_id"]] = z["name"]
    zones = tuple(
        BroadcastZone(zone_id, tuple(sorted(codes)), names[zone_id])
        for zone_id, codes in sorted(grids_of.items())
    )
    aliases = tuple(sorted(AreaAlias(**a) for a in data.get("aliases", ())))
    return Roster(grids=grids, persons=persons, zones=zones, aliases=aliases)


def roster_digest(roster: Roster) -> str:
    """A stable name for this roster's content: the sha256 of the canonical JSON of
    `roster_to_data(roster)` (keys sorted, no spaces, UTF-8), fed to the hash one grid or
    person at a time (the text is never held for it)."""
    digest = hashlib.sha256()
    for part in _canonical_parts(roster, ascii_only=False):
        digest.update(part.encode())
    return digest.hexdigest()


def roster_json(roster: Roster) -> str:
    """`roster_to_data(roster)` as JSON text, written one grid or person at a time: for a
    province, the dicts of the whole roster at once would cost several times the roster.
    Every character past ASCII is escaped, so that the text takes one byte a character in
    memory and goes to the database driver without another copy."""
    return "".join(_canonical_parts(roster, ascii_only=True))


def _canonical_parts(roster: Roster, *, ascii_only: bool) -> Iterator[str]:
    # In sorted key order, as canonical_json writes them.
    aliases = (_alias_data(a) for a in sorted(roster.aliases))
    lists: tuple[tuple[str, Iterator[dict[str, Any]]], ...] = (
        *((("aliases", aliases),) if roster.aliases else ()),
        ("grids", (_grid_data(g) for g in _grids(roster))),
        ("persons", (_person_data(p) for p in _persons(roster))),
        ("zones", (_zone_data(row) for row in _zone_rows(roster))),
    )
    for n, (name, items) in enumerate(lists):
        yield f'{"," if n else "{"}"{name}":['
        for k, item in enumerate(items):
            yield ("," if k else "") + canonical_json(item, ascii_only=ascii_only)
        yield "]"
    yield "}"


def canonical_json(value: Any, *, ascii_only: bool = False) -> str:
    """JSON with sorted keys and no spaces: one text for one content."""
    return json.dumps(value, ensure_ascii=ascii_only, sort_keys=True, separators=(",", ":"))
