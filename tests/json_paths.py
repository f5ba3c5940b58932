"""Every place in a JSON document, for tests that put anything anywhere."""

from __future__ import annotations

Path = tuple[str | int, ...]


def json_paths(value: object, prefix: Path = ()) -> list[Path]:
    """The path (keys and list indexes) of every value inside `value`, depth first."""
    children: list[tuple[str | int, object]] = (
        list(value.items())
        if isinstance(value, dict)
        else list(enumerate(value))
        if isinstance(value, list)
        else []
    )
    found = [prefix] if prefix else []
    for key, child in children:
        found += json_paths(child, (*prefix, key))
    return found
