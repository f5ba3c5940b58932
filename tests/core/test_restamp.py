"""Moving example warnings in time keeps their timing and their references."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dispatcher.core.cap import parse_cap
from dispatcher.core.jsonform import warning_from_data, warning_to_data
from dispatcher.core.restamp import restamp, restamp_cap

WARNINGS = Path(__file__).resolve().parents[2] / "examples" / "warnings"
SHIFT = timedelta(days=131, hours=2, seconds=7)


def test_a_restamped_cap_warning_keeps_its_durations() -> None:
    original = parse_cap((WARNINGS / "red-rainstorm.xml").read_bytes())
    moved = parse_cap(restamp_cap((WARNINGS / "red-rainstorm.xml").read_bytes(), SHIFT))
    assert moved.sent == original.sent + SHIFT
    assert moved.expires == original.expires + SHIFT  # type: ignore[operator]
    assert moved.identifier == original.identifier


def test_an_update_restamped_alike_still_references_its_alert() -> None:
    alert = parse_cap(restamp_cap((WARNINGS / "red-rainstorm.xml").read_bytes(), SHIFT))
    update = parse_cap(restamp_cap((WARNINGS / "red-rainstorm-update.xml").read_bytes(), SHIFT))
    assert alert.key in {(r.sender, r.identifier, r.sent) for r in update.references}


def test_the_json_form_moves_the_same_way() -> None:
    cancel = parse_cap((WARNINGS / "red-rainstorm-cancel.xml").read_bytes())
    moved = warning_from_data(restamp(warning_to_data(cancel), SHIFT))
    assert moved.sent == cancel.sent + SHIFT
    assert [r.sent for r in moved.references] == [r.sent + SHIFT for r in cancel.references]
