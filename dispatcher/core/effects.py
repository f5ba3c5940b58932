"""What a decision means in rows: sends to claim, escalations, summons, tasks, events.

Pure, like the machine: given the decision, the recipient and the roster version, it
names every target (the n-th supervisor up the chain, the loudspeaker zones of the grids)
and every send, each with the key that makes it happen at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dispatcher.core.gong import GONG, village_secretary
from dispatcher.core.machine import (
    AssignTask,
    Broadcast,
    Decision,
    Escalate,
    NoticeKind,
    Notify,
    RecipientState,
)
from dispatcher.core.roster import Person, Roster

DOOR_KNOCK_CHANNELS = ("voice", "sms")
"""How the assignee of a door-knock task hears of it: a call wakes them, the SMS lists the grids."""


@dataclass(frozen=True, slots=True)
class RecipientView:
    """The parts of a stored recipient the effects need."""

    id: int
    warning_id: str
    person_id: str
    grid_codes: tuple[str, ...]
    state: RecipientState


@dataclass(frozen=True, slots=True)
class Claim:
    """A send to claim before it is made; `key` is unique across the whole store."""

    key: str
    channel: str
    kind: NoticeKind
    occasion: str
    address: str
    recipient_id: int | None = None
    person_id: str | None = None
    zone_id: str | None = None


@dataclass(frozen=True, slots=True)
class EscalationRow:
    recipient_id: int
    level: int
    occasion: str
    target_id: str | None


@dataclass(frozen=True, slots=True)
class SummonsJoin:
    """Add to the gathering notice for `target_id` (one call naming every silent person)."""

    target_id: str
    kind: NoticeKind
    occasion: str
    channels: tuple[str, ...]
    member_id: int | None = None  # the silent recipient it is about (escalations only)
    task_occasion: str | None = None


@dataclass(frozen=True, slots=True)
class TaskJoin:
    assignee_id: str | None
    task: str
    occasion: str
    grid_codes: tuple[str, ...]


@dataclass(slots=True)
class Effects:
    claims: list[Claim] = field(default_factory=list)
    escalations: list[EscalationRow] = field(default_factory=list)
    summons: list[SummonsJoin] = field(default_factory=list)
    tasks: list[TaskJoin] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def address_of(person: Person, channel: str) -> str | None:
    """The address `person` has on `channel` (E.164 for voice and SMS, openid for WeChat)."""
    if channel in ("voice", "sms"):
        return person.phone
    if channel == "wechat":
        return person.wechat_openid
    return None


def reachable_channels(person: Person, wanted: tuple[str, ...]) -> tuple[str, ...]:
    """`wanted` channels `person` has an address on; if none, any they have (reach beats form)."""
    usable = tuple(c for c in wanted if address_of(person, c))
    if usable:
        return usable
    return tuple(c for c in ("voice", "sms", "wechat") if address_of(person, c))[:1]


def supervisor_at(roster: Roster, person_id: str, level: int) -> Person | None:
    """The supervisor `level` steps up; the top of the chain where it is shorter."""
    chain = roster.supervisor_chain(person_id) if person_id in roster.persons else ()
    if not chain:
        return None
    return chain[min(level, len(chain)) - 1]


def effects_of(decision: Decision, recipient: RecipientView, roster: Roster) -> Effects:
    """The rows `decision` produces for `recipient`, using roster version `roster`."""
    effects = Effects()
    person = roster.persons.get(recipient.person_id)
    for action in decision.actions:
        if isinstance(action, Notify) and action.level == 0:
            if person is not None:
                _claim_self(effects, action, recipient, person)
        elif isinstance(action, Notify):
            target = supervisor_at(roster, recipient.person_id, action.level)
            if target is not None:
                escalation = action.kind is NoticeKind.ESCALATION
                effects.summons.append(
                    SummonsJoin(
                        target_id=target.id,
                        kind=action.kind,
                        occasion=action.occasion,
                        channels=action.channels,
                        member_id=recipient.id if escalation else None,
                    )
                )
        elif isinstance(action, Escalate):
            target = supervisor_at(roster, recipient.person_id, action.level)
            target_id = target.id if target else None
            effects.escalations.append(
                EscalationRow(recipient.id, action.level, action.occasion, target_id)
            )
            effects.events.append(
                ("escalated", _event_body(recipient, level=action.level, target_id=target_id))
            )
        elif isinstance(action, AssignTask):
            assignee = supervisor_at(roster, recipient.person_id, action.level)
            kind = NoticeKind.DOOR_KNOCK
            if action.task == GONG:
                assignee = village_secretary(roster, recipient.grid_codes) or assignee
                kind = NoticeKind.GONG
            effects.tasks.append(
                TaskJoin(
                    assignee.id if assignee else None,
                    action.task,
                    action.occasion,
                    recipient.grid_codes,
                )
            )
            if assignee is not None:
                effects.summons.append(
                    SummonsJoin(
                        target_id=assignee.id,
                        kind=kind,
                        occasion=action.occasion,
                        channels=DOOR_KNOCK_CHANNELS,
                        task_occasion=action.occasion,
                    )
                )
        elif isinstance(action, Broadcast):
            for zone in roster.zones_of_grids(recipient.grid_codes):
                effects.claims.append(
                    Claim(
                        key=f"{recipient.warning_id}:zone:{zone.zone_id}:{action.occasion}",
                        channel="broadcast",
                        kind=action.kind,
                        occasion=action.occasion,
                        address=zone.zone_id,
                        zone_id=zone.zone_id,
                    )
                )
    if (
        decision.state is RecipientState.UNREACHABLE
        and recipient.state is not RecipientState.UNREACHABLE
    ):
        effects.events.append(("unreachable", _event_body(recipient)))
    return effects


def _claim_self(effects: Effects, action: Notify, recipient: RecipientView, person: Person) -> None:
    for channel in action.channels:
        address = address_of(person, channel)
        if address is None:
            continue
        effects.claims.append(
            Claim(
                key=f"{recipient.id}:{channel}:{action.occasion}",
                channel=channel,
                kind=action.kind,
                occasion=action.occasion,
                address=address,
                recipient_id=recipient.id,
                person_id=person.id,
            )
        )


def _event_body(recipient: RecipientView, **extra: Any) -> dict[str, Any]:
    return {
        "warning_id": recipient.warning_id,
        "person_id": recipient.person_id,
        "grid_codes": list(recipient.grid_codes),
        **extra,
    }
