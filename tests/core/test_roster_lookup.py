"""Finding the persons behind a phone number (an SMS reply names only the number)."""

from __future__ import annotations

from dispatcher.core.roster import Person, Roster


def _person(person_id: str, phone: str | None, openid: str | None = None) -> Person:
    return Person(person_id, person_id, phone, openid, "网格员", (), None)


def test_a_number_finds_every_person_listed_with_it_sorted_by_id() -> None:
    roster = Roster(
        grids={},
        persons={
            "b": _person("b", "+8613800000001"),
            "a": _person("a", "+8613800000001"),
            "c": _person("c", "+8613800000002"),
            "w": _person("w", None, "oWeChatOnly01"),
        },
    )
    assert [p.id for p in roster.persons_with_phone("+8613800000001")] == ["a", "b"]
    assert [p.id for p in roster.persons_with_phone("+8613800000002")] == ["c"]
    assert roster.persons_with_phone("+8613800000009") == ()
