"""The persons of a roster (`persons.csv`): who is called, and who is called next.

Pure, like `dispatcher.core.roster`, whose docstring lists the rules. Each person's grid
codes, role and supervisor id are shared with every other person who has them (and a code
with its grid): a province's roster is held in memory whole.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dispatcher.core.phones import normalise_phone

if TYPE_CHECKING:
    from dispatcher.core.roster import Grid

__all__ = ["Person", "first_seen", "parse_persons"]

Report = Callable[[int, str], None]
_OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")
_EXCEL_SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?E\+[0-9]+", re.IGNORECASE)
_GRID_SEPARATORS = re.compile(r"[;；]")


@dataclass(frozen=True, slots=True)
class Person:
    """A person who can be called: a grid person, or a supervisor up the chain.

    `phone` is E.164. At least one of `phone` and `wechat_openid` is set in a loaded
    roster. `supervisor_id` is who is called when this person does not answer.
    """

    id: str
    name: str
    phone: str | None
    wechat_openid: str | None
    role: str
    grid_codes: tuple[str, ...]
    supervisor_id: str | None


def first_seen(seen: dict[str, int], key: str, line: int, what: str, report: Report) -> bool:
    """Remember `key` and return True, or report it as a duplicate and return False."""
    if key in seen:
        report(line, f"duplicate {what} {key} (first on line {seen[key]})")
        return False
    seen[key] = line
    return True


def _shared(code: str, grids: Mapping[str, Grid] | None) -> str:
    grid = grids.get(code) if grids is not None else None
    return grid.code if grid is not None else sys.intern(code)


def parse_persons(
    rows: Iterable[tuple[int, dict[str, str]]],
    grids: Mapping[str, Grid] | None,
    report: Report,
    tables: tuple[str, str],
) -> dict[str, Person]:
    """The persons of `rows`, every problem reported by line; `tables` names the grids' and
    the persons' tables in the problems (a file, or a workbook's sheet)."""
    grids_table, persons_table = tables
    persons: dict[str, Person] = {}
    lines: dict[str, int] = {}
    for line, cells in rows:
        person_id, phone_text, openid = cells["id"], cells["phone"], cells["wechat_openid"]
        if not cells["name"]:
            report(line, "name is empty")
        phone = _phone(phone_text, line, report)
        if openid and not _OPENID.fullmatch(openid):
            report(line, "wechat_openid must be 6-64 letters, digits, '-' or '_'")
        if not phone_text and not openid:
            report(line, "no phone and no wechat_openid: nobody could reach this person")
        split = (code.strip() for code in _GRID_SEPARATORS.split(cells["grid_codes"]))
        # Each code, role and supervisor id is shared with every other person who has it
        # (and a code with its grid): a province's roster is held in memory whole.
        codes = tuple(_shared(code, grids) for code in dict.fromkeys(c for c in split if c))
        for code in codes:
            if grids is not None and code not in grids:
                report(line, f"grid {code} is not in {grids_table}")
        if not person_id:
            report(line, "id is empty")
        elif first_seen(lines, person_id, line, "person id", report):
            supervisor = sys.intern(cells["supervisor_id"]) or None
            role = sys.intern(cells["role"])
            persons[person_id] = Person(
                person_id, cells["name"], phone, openid or None, role, codes, supervisor
            )
    _check_supervisors(persons, lines, report, persons_table)
    return persons


def _phone(text: str, line: int, report: Report) -> str | None:
    if not text:
        return None
    if _EXCEL_SCIENTIFIC.fullmatch(text):
        report(line, "phone was turned into a number by the spreadsheet; format as text")
        return None
    try:
        return normalise_phone(text)
    except ValueError as exc:
        report(line, str(exc))
        return None


def _check_supervisors(
    persons: Mapping[str, Person], lines: Mapping[str, int], report: Report, persons_table: str
) -> None:
    boss: dict[str, str] = {}
    for person in persons.values():
        supervisor, line = person.supervisor_id, lines[person.id]
        if supervisor == person.id:
            report(line, f"{person.id} cannot supervise themselves")
        elif supervisor is not None and supervisor not in persons:
            report(line, f"supervisor_id {supervisor} is not a person in {persons_table}")
        elif supervisor is not None:
            boss[person.id] = supervisor
    # Each person has at most one supervisor, so walking up from everyone finds every
    # cycle; `done` makes the whole walk linear in the number of persons.
    done: set[str] = set()
    for start in persons:
        path: dict[str, None] = {}
        node: str | None = start
        while node is not None and node not in done and node not in path:
            path[node] = None
            node = boss.get(node)
        if node is not None and node in path:
            cycle = list(path)[list(path).index(node) :]
            turn = cycle.index(min(cycle, key=lines.__getitem__))
            ordered = [*cycle[turn:], *cycle[:turn], cycle[turn]]
            report(lines[cycle[turn]], "supervisor chain loops: " + " → ".join(ordered))
        done.update(path)
