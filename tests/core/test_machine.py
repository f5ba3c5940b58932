"""The per-recipient state machine, as a table of fixed datetimes.

Policy: the DESIGN.md red example (answer within 10 min; voice+SMS+WeChat and broadcast at
once, voice again at 3 min, supervisor at 10 min, the next supervisor with a door-knock
task at 20 min).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from dispatcher.core.lifecycle import Lifecycle, advance, start
from dispatcher.core.machine import (
    Answer,
    AssignTask,
    Attempt,
    Broadcast,
    Decision,
    Escalate,
    NoticeKind,
    Notify,
    Outcome,
    Recipient,
    RecipientState,
    decide,
)
from dispatcher.core.model import Level
from dispatcher.core.policy import LevelPolicy, parse_policy
from tests.factories import make_warning

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 7, 20, 2, 0, tzinfo=BEIJING)
MIN = timedelta(minutes=1)

POLICY = parse_policy(
    """
red:
  answer_within: 10m
  steps:
    - {after: 0s,  notify: [voice, sms, wechat]}
    - {after: 0s,  broadcast: true}
    - {after: 3m,  unless: answered, notify: [voice]}
    - {after: 10m, unless: answered, escalate: supervisor, notify: [voice, sms]}
    - {after: 20m, unless: answered, escalate: supervisor, task: door_knock}
orange:
  answer_within: 10m
  steps:
    - {after: 0s, notify: [voice, sms]}
    - {after: 5m, unless: delivered, notify: [wechat]}
    - {after: 10m, unless: answered, escalate: supervisor, notify: [sms]}
yellow: {answer_within: 30m, steps: [{after: 0s, notify: [sms, wechat]}]}
blue:
  answer_within: 1h
  steps:
    - {after: 0s, notify: [sms]}
    - {after: 1h, unless: answered, escalate: supervisor, notify: [sms]}
"""
)
RED = POLICY.for_level(Level.RED)
PHONE_AND_WECHAT = frozenset({"voice", "sms", "wechat"})
ALERT = start(make_warning(level=Level.RED, sent=T0))


def applied(recipient: Recipient, decision: Decision, *sent: str) -> Recipient:
    """The recipient as the store holds it after the scheduler performed `decision`."""
    attempts = recipient.attempts + tuple(
        Attempt(channel, Outcome.PENDING, decision.chain_revision) for channel in sent
    )
    return replace(
        recipient,
        cursor=decision.cursor,
        escalation=decision.escalation,
        revision=decision.revision,
        chain_revision=decision.chain_revision,
        attempts=attempts,
    )


def run(
    recipient: Recipient, at: datetime, policy: LevelPolicy = RED, life: Lifecycle = ALERT
) -> tuple[Decision, Recipient]:
    decision = decide(policy, life, recipient, at)
    sent = [
        c for a in decision.actions if isinstance(a, Notify) and a.level == 0 for c in a.channels
    ]
    return decision, applied(recipient, decision, *sent)


def test_first_decision_calls_texts_and_broadcasts_at_once() -> None:
    decision, _ = run(Recipient(PHONE_AND_WECHAT), T0)
    assert decision.actions == (
        Notify(NoticeKind.ALERT, ("voice", "sms", "wechat"), "c0s0"),
        Broadcast("c0s1"),
    )
    assert decision.state is RecipientState.NOTIFIED
    assert decision.next_due == T0 + 3 * MIN


def test_nothing_is_due_before_the_warning_is_sent() -> None:
    decision = decide(RED, ALERT, Recipient(PHONE_AND_WECHAT), T0 - MIN)
    assert decision.actions == ()
    assert decision.state is RecipientState.PENDING
    assert decision.next_due == T0


def test_a_silent_person_is_called_again_then_escalated_up_the_chain() -> None:
    _, person = run(Recipient(PHONE_AND_WECHAT), T0)
    recall, person = run(person, T0 + 3 * MIN)
    assert recall.actions == (Notify(NoticeKind.ALERT, ("voice",), "c0s2"),)
    assert recall.next_due == T0 + 10 * MIN

    early = decide(RED, ALERT, person, T0 + 10 * MIN - timedelta(seconds=1))
    assert early.actions == ()

    supervisor, person = run(person, T0 + 10 * MIN)
    assert supervisor.actions == (
        Escalate(1, "c0s3"),
        Notify(NoticeKind.ESCALATION, ("voice", "sms"), "c0s3", level=1),
    )
    assert supervisor.escalation == 1
    assert supervisor.next_due == T0 + 20 * MIN

    door, person = run(person, T0 + 20 * MIN)
    assert door.actions == (Escalate(2, "c0s4"), AssignTask("door_knock", 2, "c0s4"))
    assert door.next_due is None


def test_an_answer_ends_the_chain() -> None:
    _, person = run(Recipient(PHONE_AND_WECHAT), T0)
    person = replace(person, answers=(Answer(T0 + MIN, "sms"),))
    decision, _ = run(person, T0 + 30 * MIN)
    assert decision.actions == ()
    assert decision.state is RecipientState.ANSWERED
    assert decision.next_due is None


def test_a_late_warning_catches_up_without_calling_anyone_twice() -> None:
    decision, _ = run(Recipient(PHONE_AND_WECHAT), T0 + 15 * MIN)
    assert decision.actions == (
        Notify(NoticeKind.ALERT, ("voice", "sms", "wechat"), "c0s0"),
        Broadcast("c0s1"),
        Escalate(1, "c0s3"),
        Notify(NoticeKind.ESCALATION, ("voice", "sms"), "c0s3", level=1),
    )
    assert decision.next_due == T0 + 20 * MIN


def test_unreachable_on_every_channel_escalates_at_once() -> None:
    _, person = run(Recipient(PHONE_AND_WECHAT), T0)
    failed = tuple(Attempt(a.channel, Outcome.REJECTED) for a in person.attempts)
    person = replace(person, attempts=failed)
    decision, person = run(person, T0 + MIN)
    assert decision.state is RecipientState.UNREACHABLE
    assert decision.actions == (
        Escalate(1, "c0s3"),
        Notify(NoticeKind.ESCALATION, ("voice", "sms"), "c0s3", level=1),
    )
    later, _ = run(person, T0 + 20 * MIN)
    assert later.actions == (Escalate(2, "c0s4"), AssignTask("door_knock", 2, "c0s4"))


def test_one_channel_rejected_is_not_unreachable() -> None:
    _, person = run(Recipient(PHONE_AND_WECHAT), T0)
    person = replace(person, attempts=(Attempt("wechat", Outcome.REJECTED),))
    decision, _ = run(person, T0 + 3 * MIN)
    assert decision.state is RecipientState.NOTIFIED
    assert decision.actions == (Notify(NoticeKind.ALERT, ("voice",), "c0s2"),)


def test_a_person_with_no_address_for_the_policy_is_escalated_at_the_first_step() -> None:
    blue = POLICY.for_level(Level.BLUE)
    life = start(make_warning(level=Level.BLUE, sent=T0))
    decision, _ = run(Recipient(frozenset({"wechat"})), T0, blue, life)
    assert decision.state is RecipientState.UNREACHABLE
    assert decision.actions == (
        Escalate(1, "c0s1"),
        Notify(NoticeKind.ESCALATION, ("sms",), "c0s1", level=1),
    )


def test_unless_delivered_skips_a_step_once_anything_was_delivered() -> None:
    orange = POLICY.for_level(Level.ORANGE)
    life = start(make_warning(level=Level.ORANGE, sent=T0))
    _, person = run(Recipient(PHONE_AND_WECHAT), T0, orange, life)
    delivered = replace(person, attempts=(Attempt("sms", Outcome.DELIVERED),))
    decision, _ = run(delivered, T0 + 5 * MIN, orange, life)
    assert decision.actions == ()
    assert decision.state is RecipientState.DELIVERED
    silent, _ = run(person, T0 + 5 * MIN, orange, life)
    assert silent.actions == (Notify(NoticeKind.ALERT, ("wechat",), "c0s1"),)


def test_cancel_tells_everyone_already_reached_and_stops_everything() -> None:
    _, person = run(Recipient(PHONE_AND_WECHAT), T0)
    cancelled = advance(ALERT, make_warning(msg_type="Cancel", sent=T0 + 5 * MIN))
    decision, person = run(person, T0 + 5 * MIN, life=cancelled)
    assert decision.actions == (
        Notify(NoticeKind.CANCEL, ("sms", "voice", "wechat"), "r1"),
        Broadcast("r1", NoticeKind.CANCEL),
    )
    assert decision.state is RecipientState.CANCELLED
    assert decision.next_due is None
    again, _ = run(person, T0 + 30 * MIN, life=cancelled)
    assert again.actions == ()


def test_cancel_reaches_nobody_who_was_never_told() -> None:
    cancelled = advance(ALERT, make_warning(msg_type="Cancel", sent=T0))
    decision, _ = run(Recipient(PHONE_AND_WECHAT), T0, life=cancelled)
    assert decision.actions == ()
    assert decision.state is RecipientState.CANCELLED


def test_cancel_also_tells_the_supervisor_an_escalation_reached() -> None:
    _, person = run(Recipient(PHONE_AND_WECHAT), T0)
    _, person = run(person, T0 + 10 * MIN)
    cancelled = advance(ALERT, make_warning(msg_type="Cancel", sent=T0 + 12 * MIN))
    decision, _ = run(person, T0 + 12 * MIN, life=cancelled)
    assert Notify(NoticeKind.CANCEL, ("voice", "sms"), "r1", level=1) in decision.actions


def test_expiry_stops_escalation() -> None:
    life = replace(ALERT, expires=T0 + 15 * MIN)
    _, person = run(Recipient(PHONE_AND_WECHAT), T0, life=life)
    _, person = run(person, T0 + 10 * MIN, life=life)
    decision = decide(RED, life, person, T0 + 10 * MIN)
    assert decision.next_due == T0 + 15 * MIN
    expired, _ = run(person, T0 + 20 * MIN, life=life)
    assert expired.actions == ()
    assert expired.state is RecipientState.EXPIRED
    assert expired.next_due is None


def test_a_raised_level_calls_everyone_again_even_those_who_answered() -> None:
    yellow = start(make_warning(level=Level.YELLOW, sent=T0))
    _, person = run(Recipient(PHONE_AND_WECHAT), T0, POLICY.for_level(Level.YELLOW), yellow)
    person = replace(person, answers=(Answer(T0 + MIN, "sms"),))
    raised = advance(yellow, make_warning(msg_type="Update", level=Level.RED, sent=T0 + 30 * MIN))
    decision, person = run(person, T0 + 30 * MIN, life=raised)
    assert decision.actions == (
        Notify(NoticeKind.UPDATE, ("voice", "sms", "wechat"), "c1s0"),
        Broadcast("c1s1", NoticeKind.UPDATE),
    )
    assert decision.state is RecipientState.NOTIFIED
    assert decision.next_due == T0 + 33 * MIN, "the SLA clock restarts at the update's sent"


def test_a_same_level_update_renotifies_and_keeps_the_chain() -> None:
    _, person = run(Recipient(PHONE_AND_WECHAT), T0)
    update = advance(ALERT, make_warning(msg_type="Update", level=Level.RED, sent=T0 + MIN))
    decision, person = run(person, T0 + MIN, life=update)
    assert decision.actions == (
        Notify(NoticeKind.UPDATE, ("sms", "voice", "wechat"), "r1"),
        Broadcast("r1", NoticeKind.UPDATE),
    )
    assert decision.next_due == T0 + 3 * MIN
    recall, _ = run(person, T0 + 3 * MIN, life=update)
    assert recall.actions == (Notify(NoticeKind.ALERT, ("voice",), "c0s2"),)


def test_a_lowered_level_clears_the_warning() -> None:
    _, person = run(Recipient(PHONE_AND_WECHAT), T0)
    lowered = advance(ALERT, make_warning(msg_type="Update", level=Level.BLUE, sent=T0 + MIN))
    decision, _ = run(person, T0 + 11 * MIN, life=lowered)
    assert decision.actions == (
        Notify(NoticeKind.CLEAR, ("sms", "voice", "wechat"), "r1"),
        Broadcast("r1", NoticeKind.CLEAR),
    )
    assert decision.state is RecipientState.CANCELLED


@pytest.mark.parametrize("minutes", [0, 2, 3, 9, 10, 19, 20, 45])
def test_deciding_twice_at_the_same_moment_does_nothing_the_second_time(minutes: int) -> None:
    at = T0 + minutes * MIN
    _, person = run(Recipient(PHONE_AND_WECHAT), at)
    second = decide(RED, ALERT, person, at)
    assert second.actions == ()
