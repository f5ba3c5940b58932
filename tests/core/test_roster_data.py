"""A roster's snapshot and its digest: what a running warning keeps of the roster."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dispatcher.roster import load_roster
from dispatcher.roster_data import canonical_json, roster_digest, roster_from_data, roster_to_data

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "roster"


def test_the_digest_is_the_hash_of_the_snapshot_as_canonical_json() -> None:
    # Databases name their stored snapshots by this digest: computing it piece by piece
    # must give the very hash of the whole snapshot's text.
    roster = load_roster(EXAMPLE)
    whole = hashlib.sha256(canonical_json(roster_to_data(roster))).hexdigest()
    assert roster_digest(roster) == whole


def test_a_snapshot_gives_back_the_same_roster_and_digest() -> None:
    roster = load_roster(EXAMPLE)
    again = roster_from_data(roster_to_data(roster))
    assert dict(again.persons) == dict(roster.persons)
    assert dict(again.grids) == dict(roster.grids)
    assert again.zones == roster.zones
    assert roster_digest(again) == roster_digest(roster)


def test_a_changed_number_is_another_version() -> None:
    roster = load_roster(EXAMPLE)
    data = roster_to_data(roster)
    data["persons"][0]["phone"] = "+8613900009999"
    assert roster_digest(roster_from_data(data)) != roster_digest(roster)
