"""Who was reached and how: channels' delivery and answer rates, escalations per level,
field tasks and their reports, and the persons never reached with why; pure.

A person counts as *reached* when an answer of their own came (an SMS reply, key 1, the
signed link, an operator's entry for them). Whoever else closed their chain (a supervisor,
a door-knock report, a colleague of the grid) did not reach them, so they belong on the
roster-fix list with the reason their sends give: a number the provider called wrong, a
channel that refused them, or notices that went out and were never answered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dispatcher.core.machine import occasion_step
from dispatcher.core.phones import mask_phone, mask_phones_in_text
from dispatcher.core.policy import LevelPolicy
from dispatcher.core.roster import Roster
from dispatcher.report.figures import seconds
from dispatcher.report.records import Records, SendRecord

OWN_ANSWERS = frozenset({"sms", "voice", "wechat", "link", "operator"})
PERSON_CHANNELS = ("sms", "voice", "wechat")
CHANNELS = (*PERSON_CHANNELS, "broadcast")
WRONG_NUMBER = frozenset({"invalid_address", "no_address", "unreachable"})
GONE_OUT = frozenset({"sent", "delivered", "simulated"})


class Why(StrEnum):
    WRONG_NUMBER = "wrong_number"
    REFUSED = "channel_refused"
    NO_ANSWER = "no_answer"
    NOTHING_SENT = "nothing_sent"


@dataclass(frozen=True, slots=True)
class Unreached:
    person_id: str
    name: str
    role: str
    phone: str  # masked
    grids: str
    why: Why
    sends: str  # per channel: how its sends ended
    closed_by: str  # who answered for them, "" if nobody did


@dataclass(frozen=True, slots=True)
class ChannelRates:
    channel: str
    sends: int
    delivered: int
    accepted: int  # sent, no delivery report (yet)
    failed: int
    unknown: int  # claimed, the outcome was never learnt
    answers: int  # answers that came by this channel
    reached: int  # persons (or zones) a send of it went out to
    reached_answered: int  # of those persons, how many answered by this channel

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.sends if self.sends else None

    @property
    def answer_rate(self) -> float | None:
        """Of the persons it reached, the share who answered by it (a loudspeaker takes
        no answer: None)."""
        if not self.reached or self.channel == "broadcast":
            return None
        return self.reached_answered / self.reached


def never_reached(records: Records, roster: Roster) -> list[Unreached]:
    """Every person of the warning with no answer of their own, in person-id order."""
    own = {a.recipient_id for a in records.answers if a.via in OWN_ANSWERS}
    closers: dict[int, str] = {}
    for answer in records.answers:
        if answer.via not in OWN_ANSWERS:
            closers.setdefault(answer.recipient_id, answer.via)
    sends_of: dict[int, list[SendRecord]] = defaultdict(list)
    for send in records.sends:
        if send.recipient_id is not None:
            sends_of[send.recipient_id].append(send)
    found = []
    for recipient in records.recipients:
        if recipient.id in own:
            continue
        person = roster.persons.get(recipient.person_id)
        sends = sends_of[recipient.id]
        found.append(
            Unreached(
                person_id=recipient.person_id,
                name=person.name if person else recipient.person_id,
                role=person.role if person else "",
                phone=mask_phone(person.phone) if person and person.phone else "",
                grids="、".join(
                    roster.grids[code].name if code in roster.grids else code
                    for code in recipient.grid_codes
                ),
                why=_why(sends),
                sends=_outcomes(sends),
                closed_by=closers.get(recipient.id, ""),
            )
        )
    return sorted(found, key=lambda row: row.person_id)


def _why(sends: Sequence[SendRecord]) -> Why:
    if not sends:
        return Why.NOTHING_SENT
    if any(s.error_reason in WRONG_NUMBER for s in sends if s.channel in ("sms", "voice")):
        return Why.WRONG_NUMBER
    if not any(s.status in GONE_OUT for s in sends):
        return Why.REFUSED
    return Why.NO_ANSWER


def _outcomes(sends: Sequence[SendRecord]) -> str:
    by_channel: dict[str, list[str]] = defaultdict(list)
    for send in sends:
        outcome = send.status if not send.error_reason else f"{send.status}({send.error_reason})"
        if outcome not in by_channel[send.channel]:
            by_channel[send.channel].append(outcome)
    return "; ".join(f"{channel}: {'/'.join(ends)}" for channel, ends in sorted(by_channel.items()))


def channel_rates(records: Records) -> list[ChannelRates]:
    """Per channel: its sends and how they ended, the answers that came by it, and of the
    persons it reached how many answered by it."""
    answers_by: dict[str, int] = defaultdict(int)
    answered_by: dict[str, set[int]] = defaultdict(set)
    for answer in records.answers:
        answers_by[answer.via] += 1
        answered_by[answer.via].add(answer.recipient_id)
    rows = []
    for channel in CHANNELS:
        sends = [s for s in records.sends if s.channel == channel]
        gone_out = [s for s in sends if s.status in GONE_OUT]
        persons = {s.recipient_id for s in gone_out if s.recipient_id is not None}
        zones = {s.zone_id for s in gone_out if s.zone_id is not None}
        rows.append(
            ChannelRates(
                channel=channel,
                sends=len(sends),
                delivered=sum(1 for s in sends if s.status == "delivered"),
                accepted=sum(1 for s in sends if s.status in ("sent", "simulated")),
                failed=sum(1 for s in sends if s.status in ("failed", "rejected")),
                unknown=sum(1 for s in sends if s.status == "claimed"),
                answers=answers_by.pop(channel, 0),
                reached=len(persons) + len(zones),
                reached_answered=len(persons & answered_by[channel]),
            )
        )
    # Answers that came another way (the link, an operator, a supervisor, a door-knock).
    rows += [ChannelRates(via, 0, 0, 0, 0, 0, n, 0, 0) for via, n in sorted(answers_by.items())]
    return rows


def escalation_levels(
    records: Records, roster: Roster, policy: LevelPolicy
) -> list[dict[str, Any]]:
    """Per escalation level: how many silent chains went up, to whom, when first, and how
    late against the policy step that called for it (the latest of them)."""
    start = records.warning.clock_start
    by_level: dict[int, list[Any]] = defaultdict(list)
    for escalation in records.escalations:
        by_level[escalation.level].append(escalation)
    answered_for = {
        a.recipient_id for a in records.answers if a.via in ("supervisor", "door_knock")
    }
    return [
        {
            "level": level,
            "chains": len(rows),
            "targets": sorted(
                {roster.name_of(e.target_id) or e.target_id or "无上级" for e in rows}
            ),
            "planned_s": _planned(rows, policy),
            "first_s": seconds(start, min(e.created_at for e in rows)),
            "late_s": _late(rows, policy, start),
            "closed_for": sum(1 for e in rows if e.recipient_id in answered_for),
        }
        for level, rows in sorted(by_level.items())
    ]


def _step_after(occasion: str, policy: LevelPolicy) -> float | None:
    """When the policy step named in `occasion` (`c<chain>s<index>`) was due, in seconds."""
    index = occasion_step(occasion)
    if index is None:
        return None
    step = next((step for step in policy.steps if step.index == index), None)
    return None if step is None else step.after.total_seconds()


def _planned(rows: Sequence[Any], policy: LevelPolicy) -> float | None:
    planned = [at for row in rows if (at := _step_after(row.occasion, policy)) is not None]
    return min(planned, default=None)


def _late(rows: Sequence[Any], policy: LevelPolicy, start: datetime) -> float | None:
    """The most any of `rows` came after its step was due (0 when none was late)."""
    late = [
        max(0.0, seconds(start, row.created_at) - due)
        for row in rows
        if (due := _step_after(row.occasion, policy)) is not None
    ]
    return round(max(late), 3) if late else None


def field_tasks(records: Records, roster: Roster, policy: LevelPolicy) -> list[dict[str, Any]]:
    """Each field task (door-knock …) with its assignee, grids and report, masked."""
    start = records.warning.clock_start
    found = []
    for task in records.tasks:
        report = dict(task.report or {})
        found.append(
            {
                "id": task.id,
                "kind": task.kind,
                "assignee": roster.name_of(task.assignee_id) or task.assignee_id or "",
                "grids": "、".join(
                    roster.grids[code].name if code in roster.grids else code
                    for code in task.grid_codes
                ),
                "created_s": seconds(start, task.created_at),
                "planned_s": _step_after(task.occasion, policy),
                "late_s": _late([task], policy, start),
                "status": task.status,
                "reported_s": _offset(start, task.reported_at),
                "report": {
                    key: mask_phones_in_text(str(value)) for key, value in sorted(report.items())
                },
            }
        )
    return found


def _offset(start: datetime, at: datetime | None) -> float | None:
    return None if at is None else seconds(start, at)
