"""What an answer (应) closes: the rule, apart from how the store finds and writes it.

DESIGN.md, "What a recipient goes through": each grid person answers for themselves; a
supervisor's answer closes every silent person they were summoned about; under
`grid_answer: any` the first answer closes the grid; a door-knock report closes every
silent person of its grids. `assign_answers` applies that to a batch of answers as if
they were recorded one by one, in order: a chain goes to the first answer that may close
it. `ends_with_answer` says when an answered chain needs nothing more of the scheduler.

The store (`dispatcher.store.answers`) reads the open chains, calls these, and writes
what they decided.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dispatcher.core.machine import OPEN_STATES, RecipientState
from dispatcher.core.policy import GridAnswer

__all__ = [
    "AnswerClaim",
    "Closing",
    "GridMember",
    "OpenChain",
    "OpenChains",
    "assign_answers",
    "ends_with_answer",
]

OpenChain = tuple[int, int]
"""An open chain: (recipient id, chain revision)."""


class AnswerClaim(Protocol):
    """What deciding needs of an answer: who answered which warning, via what, entered
    by whom; `grids` for a door-knock report (it answers for those grids' silent persons,
    not for a person of its own)."""

    @property
    def warning_id(self) -> str: ...
    @property
    def person_id(self) -> str: ...
    @property
    def via(self) -> str: ...
    @property
    def by(self) -> str: ...
    @property
    def grids(self) -> tuple[str, ...]: ...


@dataclass(slots=True)
class OpenChains:
    """The open chains a batch of answers may close, as the store found them.

    `own` and `summoned` by (warning, person): the person's own chains, and those of the
    silent persons they were summoned about; `covered` by (warning, a report's grids).
    """

    own: dict[tuple[str, str], list[OpenChain]] = field(default_factory=lambda: defaultdict(list))
    summoned: dict[tuple[str, str], list[OpenChain]] = field(
        default_factory=lambda: defaultdict(list)
    )
    covered: dict[tuple[str, tuple[str, ...]], list[OpenChain]] = field(default_factory=dict)

    def ids(self) -> list[int]:
        chains = [*self.own.values(), *self.summoned.values(), *self.covered.values()]
        return sorted({rid for found in chains for rid, _ in found})


@dataclass(frozen=True, slots=True)
class GridMember:
    """A recipient of a `grid_answer: any` warning: which grids they answer for, and in
    which state their chain is."""

    recipient_id: int
    chain_revision: int
    grid_codes: tuple[str, ...]
    state: str


@dataclass(frozen=True, slots=True)
class Closing:
    """One chain an answer closes: which claim (its index), and how it was answered
    (`via` supervisor or grid when the claim closes it for somebody else)."""

    claim: int
    recipient_id: int
    chain_revision: int
    via: str
    by: str


def needs_members(
    claims: Sequence[AnswerClaim], found: OpenChains, grid_answer: Mapping[str, GridAnswer]
) -> set[str]:
    """The warnings whose every recipient `assign_answers` must see: those under
    `grid_answer: any` where some claim answers a chain of its own."""
    return {
        claim.warning_id
        for claim in claims
        if not claim.grids
        and grid_answer[claim.warning_id] is GridAnswer.ANY
        and found.own.get((claim.warning_id, claim.person_id))
    }


def assign_answers(
    claims: Sequence[AnswerClaim],
    found: OpenChains,
    grid_answer: Mapping[str, GridAnswer],
    members: Mapping[str, Sequence[GridMember]],
) -> list[Closing]:
    """Which claim closes which chain: the first that may, as if recorded one by one.

    A claim closes its person's own open chains, then those of the silent persons its
    person was summoned about (`via` supervisor); under `grid_answer: any` (by warning),
    also every open chain whose grids all have an answer now (`via` grid; `members` holds
    those warnings' recipients, see `needs_members`). A door-knock report closes the open
    chains of its grids. A chain closed by an earlier claim is not closed again.
    """
    closing: list[Closing] = []
    taken: set[int] = set()
    for index, claim in enumerate(claims):
        if claim.grids:
            for rid, chain in found.covered.get((claim.warning_id, claim.grids), ()):
                if rid not in taken:
                    closing.append(Closing(index, rid, chain, claim.via, claim.by))
                    taken.add(rid)
            continue
        key = (claim.warning_id, claim.person_id)
        own = [(rid, chain) for rid, chain in found.own.get(key, ()) if rid not in taken]
        mine = [Closing(index, rid, chain, claim.via, claim.by) for rid, chain in own]
        taken.update(rid for rid, _ in own)
        for rid, chain in found.summoned.get(key, ()):
            if rid not in taken:
                mine.append(Closing(index, rid, chain, "supervisor", claim.person_id))
                taken.add(rid)
        if own and grid_answer[claim.warning_id] is GridAnswer.ANY:
            everyone = members[claim.warning_id]
            answered = {rid for rid, _ in own} | {entry.recipient_id for entry in closing}
            covered = {
                code
                for member in everyone
                if member.state == RecipientState.ANSWERED or member.recipient_id in answered
                for code in member.grid_codes
            }
            for member in everyone:
                if (
                    member.state in OPEN_STATES
                    and member.recipient_id not in taken
                    and set(member.grid_codes) <= covered
                ):
                    mine.append(
                        Closing(
                            index,
                            member.recipient_id,
                            member.chain_revision,
                            "grid",
                            claim.person_id,
                        )
                    )
                    taken.add(member.recipient_id)
        closing += mine
    return closing


def ends_with_answer(
    *,
    recipient_revision: int,
    recipient_chain: int,
    warning_revision: int,
    warning_chain: int,
) -> bool:
    """Whether an answered chain ends with its answer, nothing more to do: what
    `machine.decide` would do for it is only to finish it `answered`, because the answer
    is for the warning's current chain (no level raise began a new one) and no change
    (Update, Cancel …) waits to be told. Otherwise the scheduler must weigh it."""
    return recipient_revision == warning_revision and recipient_chain == warning_chain
