"""What an answer closes (`dispatcher.core.answers`): tables of the rules DESIGN.md sets,
and properties over random batches, as `machine.decide` is tested."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.core.answers import (
    Closing,
    GridMember,
    OpenChains,
    assign_answers,
    ends_with_answer,
    needs_members,
)
from dispatcher.core.lifecycle import Change, Lifecycle
from dispatcher.core.machine import (
    OPEN_STATES,
    Answer,
    Attempt,
    Outcome,
    Recipient,
    RecipientState,
    decide,
)
from dispatcher.core.model import Level
from dispatcher.core.policy import GridAnswer
from dispatcher.files.policy_file import load_policy
from tests.core.test_policy import EXAMPLES

W = "jy-20260720-0001"
T0 = datetime(2026, 7, 20, 2, 0, tzinfo=timezone(timedelta(hours=8)))
POLICY = load_policy(EXAMPLES / "policy.yaml")


@dataclass(frozen=True)
class Claim:
    warning_id: str
    person_id: str
    via: str = "sms"
    by: str = ""
    grids: tuple[str, ...] = ()


def found(
    own: dict[str, list[tuple[int, int]]] | None = None,
    summoned: dict[str, list[tuple[int, int]]] | None = None,
    covered: dict[tuple[str, ...], list[tuple[int, int]]] | None = None,
) -> OpenChains:
    chains = OpenChains()
    for person, open_chains in (own or {}).items():
        chains.own[W, person] = list(open_chains)
    for person, open_chains in (summoned or {}).items():
        chains.summoned[W, person] = list(open_chains)
    for grids, open_chains in (covered or {}).items():
        chains.covered[W, grids] = list(open_chains)
    return chains


def closed(closings: list[Closing]) -> list[tuple[int, int, str, str]]:
    return [(c.claim, c.recipient_id, c.via, c.by) for c in closings]


EACH = {W: GridAnswer.EACH}
ANY = {W: GridAnswer.ANY}


def test_a_grid_person_s_answer_closes_their_own_chain_and_no_colleague_s() -> None:
    claims = [Claim(W, "P-0101", by="P-0101")]
    chains = found(own={"P-0101": [(11, 0)], "P-0102": [(12, 0)]})
    assert closed(assign_answers(claims, chains, EACH, {})) == [(0, 11, "sms", "P-0101")]


def test_a_supervisor_s_answer_closes_every_silent_person_they_were_summoned_about() -> None:
    claims = [Claim(W, "S-01", via="voice", by="S-01")]
    chains = found(own={"S-01": [(30, 0)]}, summoned={"S-01": [(11, 0), (12, 1)]})
    assert closed(assign_answers(claims, chains, EACH, {})) == [
        (0, 30, "voice", "S-01"),
        (0, 11, "supervisor", "S-01"),
        (0, 12, "supervisor", "S-01"),
    ]


def test_a_door_knock_report_closes_the_silent_persons_of_its_grids() -> None:
    grids = ("441523100201", "441523100202")
    claims = [Claim(W, "值班员", via="door_knock", by="值班员", grids=grids)]
    chains = found(covered={grids: [(11, 0), (14, 2)]})
    assert closed(assign_answers(claims, chains, EACH, {})) == [
        (0, 11, "door_knock", "值班员"),
        (0, 14, "door_knock", "值班员"),
    ]


def test_the_first_answer_in_a_batch_takes_a_chain_a_later_one_closes_nothing_again() -> None:
    claims = [Claim(W, "S-01", via="voice", by="S-01"), Claim(W, "P-0101", by="P-0101")]
    chains = found(own={"P-0101": [(11, 0)]}, summoned={"S-01": [(11, 0)]})
    assert closed(assign_answers(claims, chains, EACH, {})) == [(0, 11, "supervisor", "S-01")]


def test_under_grid_answer_any_the_first_answer_closes_colleagues_whose_grids_it_covers() -> None:
    a, b, c = "441523100201", "441523100202", "441523100203"
    members = {
        W: [
            GridMember(11, 0, (a,), RecipientState.NOTIFIED),  # answers
            GridMember(12, 0, (a,), RecipientState.DELIVERED),  # A/B partner: closed
            GridMember(13, 0, (a, b), RecipientState.NOTIFIED),  # b has no answer yet
            GridMember(14, 0, (b,), RecipientState.ANSWERED),  # answered earlier: b covered
            GridMember(15, 0, (c,), RecipientState.UNREACHABLE),  # c not covered
        ]
    }
    claims = [Claim(W, "P-0101", by="P-0101")]
    chains = found(own={"P-0101": [(11, 0)]})
    assert needs_members(claims, chains, ANY) == {W}
    assert closed(assign_answers(claims, chains, ANY, members)) == [
        (0, 11, "sms", "P-0101"),
        (0, 12, "grid", "P-0101"),
        (0, 13, "grid", "P-0101"),
    ]


def test_a_supervisor_s_answer_closes_no_grid_under_grid_answer_any() -> None:
    # Only a grid person's own answer answers for the grid; a summons answer is not one.
    claims = [Claim(W, "S-01", via="voice", by="S-01")]
    chains = found(summoned={"S-01": [(11, 0)]})
    assert needs_members(claims, chains, ANY) == set()
    assert closed(assign_answers(claims, chains, ANY, {})) == [(0, 11, "supervisor", "S-01")]


@pytest.mark.parametrize(
    ("recipient", "warning", "ends"),
    [
        ((0, 0), (0, 0), True),  # the Alert's chain, nothing new
        ((2, 0), (2, 0), True),  # an Update told already
        ((1, 0), (2, 0), False),  # an Update not told yet: the scheduler tells it
        ((1, 0), (1, 1), False),  # a level raise began a new chain
    ],
)
def test_an_answered_chain_ends_with_its_answer_only_when_nothing_waits(
    recipient: tuple[int, int], warning: tuple[int, int], ends: bool
) -> None:
    assert (
        ends_with_answer(
            recipient_revision=recipient[0],
            recipient_chain=recipient[1],
            warning_revision=warning[0],
            warning_chain=warning[1],
        )
        is ends
    )


# Properties over random batches: a small county, every kind of claim.

PERSONS = [f"P-{n:04d}" for n in range(1, 7)]
GRIDS = ["441523100201", "441523100202", "441523100203"]


Batch = tuple[list[Claim], OpenChains, dict[str, GridAnswer], list[GridMember]]


@st.composite
def batches(
    draw: st.DrawFn,
) -> tuple[list[Claim], OpenChains, dict[str, GridAnswer], list[GridMember]]:
    members = [
        GridMember(
            rid,
            draw(st.integers(0, 1)),
            tuple(draw(st.lists(st.sampled_from(GRIDS), min_size=1, max_size=2, unique=True))),
            draw(st.sampled_from([*OPEN_STATES, RecipientState.ANSWERED.value])),
        )
        for rid in range(1, len(PERSONS) + 1)
    ]
    person_of = dict(zip(range(1, len(PERSONS) + 1), PERSONS, strict=True))
    open_members = [m for m in members if m.state in OPEN_STATES]
    chains = OpenChains()
    for member in open_members:
        chains.own[W, person_of[member.recipient_id]].append(
            (member.recipient_id, member.chain_revision)
        )
    supervisor = "S-01"
    summoned = draw(st.lists(st.sampled_from(open_members), unique=True)) if open_members else []
    for member in summoned:
        chains.summoned[W, supervisor].append((member.recipient_id, member.chain_revision))
    claims: list[Claim] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["own", "supervisor", "report"]))
        if kind == "report":
            grids = tuple(sorted(draw(st.sets(st.sampled_from(GRIDS), min_size=1))))
            chains.covered[W, grids] = [
                (m.recipient_id, m.chain_revision)
                for m in open_members
                if set(grids) & set(m.grid_codes)
            ]
            claims.append(Claim(W, "值班员", "door_knock", "值班员", grids))
        else:
            person = supervisor if kind == "supervisor" else draw(st.sampled_from(PERSONS))
            claims.append(Claim(W, person, draw(st.sampled_from(["sms", "voice", "link"])), person))
    grid_answer = {W: draw(st.sampled_from(list(GridAnswer)))}
    return claims, chains, grid_answer, members


def _without(chains: OpenChains, taken: set[int]) -> OpenChains:
    left = OpenChains()
    for person, found_chains in chains.own.items():
        left.own[person] = [c for c in found_chains if c[0] not in taken]
    for person, found_chains in chains.summoned.items():
        left.summoned[person] = [c for c in found_chains if c[0] not in taken]
    for grids, found_chains in chains.covered.items():
        left.covered[grids] = [c for c in found_chains if c[0] not in taken]
    return left


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(batches())
def test_a_batch_closes_what_the_same_answers_one_by_one_would(
    batch: Batch,
) -> None:
    claims, chains, grid_answer, members = batch
    together = assign_answers(claims, chains, grid_answer, {W: members})

    one_by_one: list[Closing] = []
    states = {m.recipient_id: m.state for m in members}
    for index, claim in enumerate(claims):
        taken = {c.recipient_id for c in one_by_one}
        now = [replace(m, state=states[m.recipient_id]) for m in members]
        for closing in assign_answers([claim], _without(chains, taken), grid_answer, {W: now}):
            one_by_one.append(replace(closing, claim=index))
            states[closing.recipient_id] = RecipientState.ANSWERED.value
    assert together == one_by_one


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(batches())
def test_no_chain_is_closed_twice_and_only_open_chains_are_closed(
    batch: Batch,
) -> None:
    claims, chains, grid_answer, members = batch
    closings = assign_answers(claims, chains, grid_answer, {W: members})
    ids = [c.recipient_id for c in closings]
    assert len(ids) == len(set(ids))
    open_ids = {m.recipient_id: m.chain_revision for m in members if m.state in OPEN_STATES}
    by_claim: dict[int, list[Closing]] = defaultdict(list)
    for closing in closings:
        assert open_ids[closing.recipient_id] == closing.chain_revision
        by_claim[closing.claim].append(closing)
    for index, mine in by_claim.items():
        claim = claims[index]
        vias = {c.via for c in mine}
        if claim.grids:
            assert vias == {"door_knock"}
        elif grid_answer[W] is GridAnswer.EACH:
            assert vias <= {claim.via, "supervisor"}


revisions = st.integers(0, 3)


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(
    recipient_revision=revisions,
    recipient_chain=revisions,
    warning_revision=revisions,
    warning_chain=revisions,
    level=st.sampled_from(list(Level)),
    cursor=st.integers(0, 4),
    told=st.booleans(),
    minutes=st.integers(0, 90),
)
def test_a_chain_that_ends_with_its_answer_is_one_decide_only_finishes(
    recipient_revision: int,
    recipient_chain: int,
    warning_revision: int,
    warning_chain: int,
    level: Level,
    cursor: int,
    told: bool,
    minutes: int,
) -> None:
    # As the store holds them: a chain begins at a revision, and nobody is ahead of the
    # warning.
    warning_revision = max(warning_revision, warning_chain)
    recipient_chain = min(recipient_chain, warning_chain)
    recipient_revision = max(min(recipient_revision, warning_revision), recipient_chain)
    attempts = (Attempt("sms", Outcome.DELIVERED, recipient_chain),) if told else ()
    recipient = Recipient(
        addresses=frozenset({"voice", "sms"}),
        cursor=cursor,
        revision=recipient_revision,
        chain_revision=recipient_chain,
        answers=(Answer(T0 + timedelta(minutes=1), "sms", recipient_chain),),
        attempts=attempts,
    )
    revision = warning_revision
    change = Change.ALERT
    if revision:
        change = Change.RESTART if warning_chain == revision else Change.RENOTIFY
    lifecycle = Lifecycle(
        level=level,
        clock_start=T0,
        expires=None,
        drill=False,
        revision=revision,
        chain_revision=warning_chain,
        change=change,
    )
    ends = ends_with_answer(
        recipient_revision=recipient.revision,
        recipient_chain=recipient.chain_revision,
        warning_revision=lifecycle.revision,
        warning_chain=lifecycle.chain_revision,
    )
    decision = decide(
        POLICY.for_level(level), lifecycle, recipient, T0 + timedelta(minutes=minutes)
    )
    if ends:
        assert decision.state is RecipientState.ANSWERED
        assert decision.actions == ()
        assert decision.next_due is None
        assert (decision.cursor, decision.chain_revision) == (cursor, recipient_chain)
