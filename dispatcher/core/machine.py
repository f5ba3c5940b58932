"""The per-recipient 叫应 state machine: a pure function from a snapshot to decisions.

`decide(policy, lifecycle, recipient, now)` reads what is known of one grid person for
one warning (where the chain stands, the answers, what each channel reported) and
returns the actions due at `now`, the new cursor and the next time to look again.
It does no I/O and reads no clock; the scheduler persists the decision and performs
the actions, and because every action carries an `occasion` key, performing a decision
twice is detectable (at most one send per step, guarantee 3 of DESIGN.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dispatcher.core.lifecycle import Change, Lifecycle
from dispatcher.core.policy import LevelPolicy, Step, Unless


class RecipientState(StrEnum):
    PENDING = "pending"
    NOTIFIED = "notified"
    DELIVERED = "delivered"
    ANSWERED = "answered"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN_STATES: tuple[str, ...] = tuple(
    state.value
    for state in (
        RecipientState.PENDING,
        RecipientState.NOTIFIED,
        RecipientState.DELIVERED,
        RecipientState.UNREACHABLE,
    )
)
"""A chain in these states still waits for its answer: the silent (未叫应) ones."""
ENDED_STATES: tuple[str, ...] = (RecipientState.CANCELLED.value, RecipientState.EXPIRED.value)
"""A chain in these states ended without an answer, and can no longer take one."""


class Outcome(StrEnum):
    """What became of one send, as far as the provider has told us."""

    PENDING = "pending"  # claimed or accepted by the provider, no final report yet
    DELIVERED = "delivered"  # handset, call answered by a human, WeChat pushed
    FAILED = "failed"  # this attempt failed (busy, no answer, retries exhausted)
    REJECTED = "rejected"  # failed for good on this channel (invalid number, unsubscribed)
    SIMULATED = "simulated"  # simulate mode: nothing was really sent


class NoticeKind(StrEnum):
    ALERT = "alert"
    UPDATE = "update"
    CANCEL = "cancel"
    CLEAR = "clear"  # 解除: downgraded or all clear
    ESCALATION = "escalation"  # to a supervisor, naming the silent persons
    DOOR_KNOCK = "door_knock"  # to the assignee of a door-knock task (never from `decide`)
    GONG = "gong"  # to the village secretary: sound the gong and whistle (鸣锣吹哨)


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer that closes a person's chain: their own, their supervisor's, or a door-knock.

    `chain_revision` is the chain it answered; a level raise starts a new chain and
    earlier answers no longer count.
    """

    at: datetime
    via: str
    chain_revision: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One send to the person (not to a supervisor), with its latest known outcome."""

    channel: str
    outcome: Outcome
    chain_revision: int = 0


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the store knows of one person for one warning.

    `addresses` are the channels the roster can reach this person on (a phone gives voice
    and sms, an openid gives wechat). `revision` is the lifecycle revision whose change
    this recipient has already been told about.
    """

    addresses: frozenset[str]
    cursor: int = 0
    escalation: int = 0
    revision: int = 0
    chain_revision: int = 0
    answers: tuple[Answer, ...] = ()
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class Notify:
    """Send a notice of `kind` on `channels`.

    `level` 0 is the person; n is the n-th supervisor up their chain (the top of the chain
    when it is shorter). `occasion` makes (recipient, level, channel, occasion) unique.
    """

    kind: NoticeKind
    channels: tuple[str, ...]
    occasion: str
    level: int = 0


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Play a notice on the loudspeakers of the person's grid(s) (one play per zone)."""

    occasion: str
    kind: NoticeKind = NoticeKind.ALERT


@dataclass(frozen=True, slots=True)
class Escalate:
    """The chain moved to supervisor `level` (recorded and published as an event)."""

    level: int
    occasion: str


@dataclass(frozen=True, slots=True)
class AssignTask:
    """Send the supervisor at `level` door to door (敲门入户) in the person's grid(s)."""

    task: str
    level: int
    occasion: str


Action = Notify | Broadcast | Escalate | AssignTask


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do now and what to remember; `next_due` is None when nothing is left to do."""

    state: RecipientState
    cursor: int
    escalation: int
    revision: int
    chain_revision: int
    next_due: datetime | None
    actions: tuple[Action, ...] = field(default=())


_CHANGE_NOTICE = {
    Change.RENOTIFY: NoticeKind.UPDATE,
    Change.CLEAR: NoticeKind.CLEAR,
    Change.CANCEL: NoticeKind.CANCEL,
}


def decide(
    policy: LevelPolicy, lifecycle: Lifecycle, recipient: Recipient, now: datetime
) -> Decision:
    """Return what is due for `recipient` at `now` under `policy` (the lifecycle's level)."""
    actions: list[Action] = []
    cursor, escalation, chain = recipient.cursor, recipient.escalation, recipient.chain_revision
    ever_told = _told_channels(recipient)
    if lifecycle.chain_revision > chain:
        cursor, escalation, chain = 0, 0, lifecycle.chain_revision
    elif recipient.revision < lifecycle.revision and ever_told:
        actions.extend(_change_notices(policy, lifecycle, recipient, ever_told))

    answered = any(answer.chain_revision >= chain for answer in recipient.answers)
    attempts = [a for a in recipient.attempts if a.chain_revision == chain]

    def finish(state: RecipientState, next_due: datetime | None) -> Decision:
        return Decision(
            state=state,
            cursor=cursor,
            escalation=escalation,
            revision=lifecycle.revision,
            chain_revision=chain,
            next_due=next_due,
            actions=tuple(actions),
        )

    if answered:
        return finish(RecipientState.ANSWERED, None)
    if lifecycle.ended:
        return finish(RecipientState.CANCELLED, None)
    if lifecycle.expires is not None and now >= lifecycle.expires:
        return finish(RecipientState.EXPIRED, None)

    usable = _usable_channels(policy, recipient, attempts)
    unreachable = not usable
    steps = policy.steps
    first_due = lifecycle.clock_start + steps[0].after
    rush_until = _next_escalation(steps, cursor) if unreachable and first_due <= now else -1
    told_in_earlier_chain = any(a.chain_revision < chain for a in recipient.attempts)
    kind = NoticeKind.UPDATE if told_in_earlier_chain else NoticeKind.ALERT
    delivered = any(a.outcome is Outcome.DELIVERED for a in attempts)
    sent_now: set[str] = set()
    while cursor < len(steps):
        step = steps[cursor]
        if lifecycle.clock_start + step.after > now and cursor > rush_until:
            break
        cursor += 1
        if step.unless is Unless.DELIVERED and delivered:
            continue
        occasion = step_occasion(chain, step.index)
        if step.escalate:
            escalation += 1
            actions.append(Escalate(level=escalation, occasion=occasion))
            if step.notify:
                actions.append(
                    Notify(NoticeKind.ESCALATION, step.notify, occasion, level=escalation)
                )
        elif step.notify:
            channels = tuple(c for c in step.notify if c in usable and c not in sent_now)
            sent_now.update(channels)
            if channels:
                actions.append(Notify(kind, channels, occasion))
        if step.task is not None:
            actions.append(AssignTask(step.task, max(escalation, 1), occasion))
        if step.broadcast:
            actions.append(Broadcast(occasion, kind))

    next_due = lifecycle.clock_start + steps[cursor].after if cursor < len(steps) else None
    if lifecycle.expires is not None:
        next_due = lifecycle.expires if next_due is None else min(next_due, lifecycle.expires)
    if unreachable:
        state = RecipientState.UNREACHABLE
    elif delivered:
        state = RecipientState.DELIVERED
    elif attempts or sent_now:
        state = RecipientState.NOTIFIED
    else:
        state = RecipientState.PENDING
    return finish(state, next_due)


def _told_channels(recipient: Recipient) -> tuple[str, ...]:
    """Channels a notice of this warning has gone out on to the person, in any chain."""
    told = {a.channel for a in recipient.attempts if a.outcome is not Outcome.REJECTED}
    return tuple(sorted(told))


def _change_notices(
    policy: LevelPolicy, lifecycle: Lifecycle, recipient: Recipient, told: tuple[str, ...]
) -> list[Action]:
    """Tell a person already reached (and their supervisor, if the chain got that far)."""
    kind = _CHANGE_NOTICE[lifecycle.change]
    occasion = f"r{lifecycle.revision}"
    notices: list[Action] = [Notify(kind, told, occasion)]
    if any(step.broadcast for step in policy.steps[: recipient.cursor]):
        notices.append(Broadcast(occasion, kind))  # the loudspeakers that played it hear too
    answered = any(a.chain_revision >= recipient.chain_revision for a in recipient.answers)
    if lifecycle.ending is not None and recipient.escalation and not answered:
        channels = _escalation_channels(policy, recipient.cursor)
        if channels:
            notices.append(Notify(kind, channels, occasion, level=recipient.escalation))
    return notices


def _escalation_channels(policy: LevelPolicy, cursor: int) -> tuple[str, ...]:
    """The channels the latest escalation already carried out used."""
    for step in reversed(policy.steps[:cursor]):
        if step.escalate and step.notify:
            return step.notify
    return ()


def _usable_channels(
    policy: LevelPolicy, recipient: Recipient, attempts: list[Attempt]
) -> frozenset[str]:
    """The policy's channels this person has an address for and that have not failed for good."""
    dead = {a.channel for a in attempts if a.outcome is Outcome.REJECTED}
    return (policy.channels & recipient.addresses) - dead


def _next_escalation(steps: tuple[Step, ...], cursor: int) -> int:
    """Index of the first step at or after `cursor` that reaches past the person, else -1."""
    for step in steps[cursor:]:
        if step.is_escalation:
            return step.index
    return -1


_STEP_OCCASION = re.compile(r"c([0-9]+)s([0-9]+)")


def step_occasion(chain: int, step_index: int) -> str:
    """What a policy step's escalations, summons and tasks are remembered by: the chain
    revision and the step, so a step is taken once per chain."""
    return f"c{chain}s{step_index}"


def occasion_step(occasion: str) -> int | None:
    """The index of the policy step `occasion` names; None for another occasion (a gong's
    zone, an update's notice)."""
    found = _STEP_OCCASION.fullmatch(occasion)
    return None if found is None else int(found.group(2))
