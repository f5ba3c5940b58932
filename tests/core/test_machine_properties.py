"""Properties of the state machine, run as a scheduler would run it.

The simulated scheduler wakes at every `next_due`, whenever an answer or a Cancel
arrives, and at arbitrary extra moments; it applies each decision as the store would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.core.lifecycle import Lifecycle, advance, start
from dispatcher.core.machine import (
    Action,
    Answer,
    Attempt,
    Broadcast,
    Escalate,
    NoticeKind,
    Notify,
    Outcome,
    Recipient,
    RecipientState,
    decide,
    occasion_step,
    step_occasion,
)
from dispatcher.core.model import Level
from dispatcher.core.policy import LevelPolicy
from dispatcher.files.policy_file import load_policy
from tests.core.test_policy import EXAMPLES
from tests.factories import make_warning

T0 = datetime(2026, 7, 20, 2, 0, tzinfo=timezone(timedelta(hours=8)))
POLICY = load_policy(EXAMPLES / "policy.yaml")
minutes = st.floats(min_value=0, max_value=90, allow_nan=False).map(lambda m: timedelta(minutes=m))


@dataclass
class Scenario:
    level: Level
    answer_after: timedelta | None
    cancel_after: timedelta | None
    expires_after: timedelta | None
    extra_wakeups: list[timedelta]
    addresses: frozenset[str]


scenarios = st.builds(
    Scenario,
    level=st.sampled_from(list(Level)),
    answer_after=st.none() | minutes,
    cancel_after=st.none() | minutes,
    expires_after=st.none() | minutes,
    extra_wakeups=st.lists(minutes, max_size=8),
    addresses=st.sampled_from(
        [frozenset({"voice", "sms", "wechat"}), frozenset({"voice", "sms"}), frozenset({"wechat"})]
    ),
)


def simulate(
    s: Scenario,
) -> tuple[LevelPolicy, Lifecycle, list[tuple[datetime, Action]], Recipient]:
    policy = POLICY.for_level(s.level)
    alert = start(make_warning(level=s.level, sent=T0))
    life = replace(alert, expires=T0 + s.expires_after if s.expires_after is not None else None)
    cancelled = advance(life, make_warning(msg_type="Cancel", sent=T0))
    wakeups = {T0 + w for w in s.extra_wakeups}
    # Also wake just before every step is due: an early step would show there.
    wakeups |= {T0 + step.after - timedelta(microseconds=1) for step in policy.steps}
    for event in (s.answer_after, s.cancel_after):
        if event is not None:
            wakeups.add(T0 + event)
    person = Recipient(s.addresses)
    log: list[tuple[datetime, Action]] = []
    now = T0
    for _ in range(100):
        current = cancelled if s.cancel_after is not None and now >= T0 + s.cancel_after else life
        if s.answer_after is not None and now >= T0 + s.answer_after and not person.answers:
            person = replace(person, answers=(Answer(T0 + s.answer_after, "sms"),))
        decision = decide(policy, current, person, now)
        log.extend((now, action) for action in decision.actions)
        told = tuple(
            Attempt(c, Outcome.PENDING, decision.chain_revision)
            for a in decision.actions
            if isinstance(a, Notify) and a.level == 0
            for c in a.channels
        )
        person = replace(
            person,
            cursor=decision.cursor,
            escalation=decision.escalation,
            revision=decision.revision,
            chain_revision=decision.chain_revision,
            attempts=person.attempts + told,
        )
        if decision.next_due is not None:
            wakeups.add(decision.next_due)
        later = sorted(w for w in wakeups if w > now)
        if not later:
            break
        now = later[0]
    return policy, life, log, person


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(scenarios)
def test_nobody_who_answered_is_called_again_by_a_later_step(s: Scenario) -> None:
    _, _, log, _ = simulate(s)
    if s.answer_after is None:
        return
    answered_at = T0 + s.answer_after
    for at, action in log:
        if at >= answered_at and isinstance(action, Notify):
            assert action.occasion.startswith("r"), f"step notice {action} after the answer"


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(scenarios)
def test_every_silent_person_is_escalated_exactly_when_the_step_is_due(s: Scenario) -> None:
    policy, _life, log, _ = simulate(s)
    escalations = [(at, a) for at, a in log if isinstance(a, Escalate)]
    reachable = bool(policy.channels & s.addresses)
    ends = [T0 + e for e in (s.answer_after, s.cancel_after, s.expires_after) if e is not None]
    end = min(ends, default=None)
    expected = [
        T0 + step.after
        for step in policy.steps
        if step.escalate and (end is None or T0 + step.after < end)
    ]
    if reachable:
        assert [at for at, _ in escalations] == expected
    else:
        assert len(escalations) >= min(1, len(expected))
        assert all(end is None or at < end for at, _ in escalations)
    assert [a.level for _, a in escalations] == list(range(1, len(escalations) + 1))


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(scenarios)
def test_nothing_is_due_after_cancel_or_expiry_but_the_cancel_notice(s: Scenario) -> None:
    policy, life, log, person = simulate(s)
    ends = [T0 + e for e in (s.cancel_after, s.expires_after) if e is not None]
    if not ends:
        return
    end = min(ends)
    after = [a for at, a in log if at >= end]
    assert all(isinstance(a, Notify | Broadcast) and a.kind is NoticeKind.CANCEL for a in after), (
        after
    )
    final = decide(policy, life, person, end + timedelta(days=1))
    if s.expires_after is not None and s.cancel_after is None and not person.answers:
        assert final.state is RecipientState.EXPIRED


@settings(max_examples=3 * settings().max_examples, deadline=None)
@given(scenarios)
def test_each_notice_goes_out_once_per_step_and_channel(s: Scenario) -> None:
    _, _, log, _ = simulate(s)
    sends = [
        (a.level, channel, a.occasion)
        for _, a in log
        if isinstance(a, Notify)
        for channel in a.channels
    ]
    assert len(sends) == len(set(sends))


@given(st.integers(1, 10_000), st.integers(0, 50))
def test_a_step_s_occasion_names_its_step(chain: int, step: int) -> None:
    assert occasion_step(step_occasion(chain, step)) == step


@given(st.sampled_from(["r2", "zone:441523101201", "zone:c1s2", "c1s", "s2", "c1s2x", ""]))
def test_other_occasions_name_no_step(occasion: str) -> None:
    assert occasion_step(occasion) is None
