"""A roster's snapshot and its digest: what a running warning keeps of the roster."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dispatcher.core.canonical import (
    canonical_json,
    roster_digest,
    roster_from_data,
    roster_json,
    roster_to_data,
)
from dispatcher.files.roster_dir import load_roster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "roster"


def test_the_text_written_piece_by_piece_is_the_snapshot_in_ascii_json() -> None:
    roster = load_roster(EXAMPLE)
    text = roster_json(roster)
    assert text.isascii()
    assert text == canonical_json(roster_to_data(roster), ascii_only=True)
    assert json.loads(text) == roster_to_data(roster)


def test_the_digest_is_the_hash_of_the_canonical_utf8_text() -> None:
    # Databases name their stored snapshots by this digest: hashing piece by piece must
    # give the very hash of the whole canonical text, as it always has.
    roster = load_roster(EXAMPLE)
    whole = canonical_json(roster_to_data(roster)).encode()
    assert roster_digest(roster) == hashlib.sha256(whole).hexdigest()


def test_a_snapshot_gives_back_the_same_roster_and_digest() -> None:
    roster = load_roster(EXAMPLE)
    again = roster_from_data(json.loads(roster_json(roster)))
    assert dict(again.persons) == dict(roster.persons)
    assert dict(again.grids) == dict(roster.grids)
    assert again.zones == roster.zones
    assert again.aliases == roster.aliases and roster.aliases
    assert roster_digest(again) == roster_digest(roster)


def test_a_roster_without_aliases_or_shared_zones_keeps_the_form_it_always_had() -> None:
    # Stored snapshots are named by their digest: a roster that uses neither area aliases
    # nor a zone over several grids must hash as it did before either existed.
    roster = load_roster(EXAMPLE)
    data = roster_to_data(roster)
    del data["aliases"]
    one_per_grid = {z["grid_code"]: z["name"] for z in data["zones"]}
    data["zones"] = [
        {"zone_id": code, "grid_code": code, "name": name}
        for code, name in sorted(one_per_grid.items())
    ]
    plain = roster_from_data(data)
    assert plain.aliases == ()
    assert all(len(zone.grid_codes) == 1 for zone in plain.zones)
    assert set(roster_to_data(plain)) == {"grids", "persons", "zones"}
    assert roster_to_data(plain)["zones"] == data["zones"]
    assert roster_digest(plain) == hashlib.sha256(canonical_json(data).encode()).hexdigest()


def test_a_changed_number_is_another_version() -> None:
    roster = load_roster(EXAMPLE)
    data = roster_to_data(roster)
    data["persons"][0]["phone"] = "+8613900009999"
    assert roster_digest(roster_from_data(data)) != roster_digest(roster)
