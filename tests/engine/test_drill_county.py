"""`jiaoying roster generate`: a synthetic county that the roster check takes, whose
numbers can reach nobody, with one loudspeaker zone per village over all its grids."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from dispatcher.cli import main
from dispatcher.core.errors import InputError
from dispatcher.core.gong import village_secretary
from dispatcher.drill.county import DRAMA_BLOCKS, write_county
from dispatcher.files.roster_dir import load_roster


def test_a_generated_county_is_a_valid_roster_of_the_sizes_asked(tmp_path: Path) -> None:
    assert main(["roster", "generate", "--grids", "53", "--persons", "520", str(tmp_path)]) == 0
    roster = load_roster(tmp_path)
    assert len(roster.grids) == 53
    assert len(roster.persons) == 520
    phones = [p.phone for p in roster.persons.values()]
    assert len(set(phones)) == len(phones), "every person has a number of their own"
    assert all(p is not None and p.startswith(DRAMA_BLOCKS) for p in phones)
    grids_of_village: dict[str, set[str]] = defaultdict(set)
    for grid in roster.grids.values():
        grids_of_village[grid.code[:12]].add(grid.code)
    for village, grids in grids_of_village.items():
        zone = roster.zone(village)
        assert zone is not None and set(zone.grid_codes) == grids, village
        secretary = village_secretary(roster, grids)
        assert secretary is not None and secretary.role == "村书记"
    # Every grid has its grid person; the rest are B roles spread over the grids.
    assert all(roster.persons_of_grid(code) for code in roster.grids)


def test_too_few_persons_for_the_grids_is_refused_saying_how_many(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="need at least"):
        write_county(tmp_path, 500, 400)
    assert not (tmp_path / "persons.csv").exists()
