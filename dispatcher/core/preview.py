"""What jiaoying would do for each recipient if nobody answered: the plan, before any send.

It runs the real state machine on a silent recipient, waking at every `next_due`, so the
preview cannot drift from what the dispatcher does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dispatcher.core.durations import format_duration
from dispatcher.core.effects import supervisor_at
from dispatcher.core.machine import (
    AssignTask,
    Attempt,
    Broadcast,
    Escalate,
    Notify,
    Outcome,
    Recipient,
    decide,
)
from dispatcher.core.phones import mask_phone
from dispatcher.core.plan import Plan, PlannedRecipient
from dispatcher.core.roster import Roster

_MAX_WAKEUPS = 100


def timeline(plan: Plan, recipient: PlannedRecipient, roster: Roster) -> list[dict[str, Any]]:
    """The steps a silent `recipient` would go through, each with its offset from `sent`."""
    start = plan.lifecycle.clock_start
    state = Recipient(recipient.addresses)
    now = start
    steps: list[dict[str, Any]] = []
    for _ in range(_MAX_WAKEUPS):
        decision = decide(plan.policy, plan.lifecycle, state, now)
        actions = [_describe(a, recipient, roster) for a in decision.actions]
        if actions:
            steps.append({"after": format_duration(now - start), "actions": actions})
        told = tuple(
            Attempt(channel, Outcome.PENDING)
            for a in decision.actions
            if isinstance(a, Notify) and a.level == 0
            for channel in a.channels
        )
        state = replace(
            state,
            cursor=decision.cursor,
            escalation=decision.escalation,
            attempts=state.attempts + told,
        )
        if decision.next_due is None or decision.next_due == plan.lifecycle.expires:
            break
        now = decision.next_due
    return steps


def _describe(action: object, recipient: PlannedRecipient, roster: Roster) -> dict[str, Any]:
    if isinstance(action, Notify):
        target = _who(roster, recipient.person_id, action.level)
        return {"notify": list(action.channels), "kind": action.kind.value, "to": target}
    if isinstance(action, Escalate):
        return {"escalate": action.level, "to": _who(roster, recipient.person_id, action.level)}
    if isinstance(action, AssignTask):
        return {
            "task": action.task,
            "to": _who(roster, recipient.person_id, action.level),
            "grids": list(recipient.grid_codes),
        }
    if isinstance(action, Broadcast):
        zones = roster.zones_of_grids(recipient.grid_codes)
        return {"broadcast": [zone.name for zone in zones]}
    raise TypeError(f"unknown action {action!r}")


def _who(roster: Roster, person_id: str, level: int) -> str:
    if level == 0:
        return roster.persons[person_id].name
    supervisor = supervisor_at(roster, person_id, level)
    return f"{supervisor.name}（{supervisor.role}）" if supervisor else "（无上级，未能升级）"


def describe_plan(plan: Plan, roster: Roster) -> dict[str, Any]:
    """The resolved grids and recipients (numbers masked), with each one's timeline."""
    recipients = []
    for planned in plan.recipients:
        person = roster.persons[planned.person_id]
        recipients.append(
            {
                "id": person.id,
                "name": person.name,
                "role": person.role,
                "phone": mask_phone(person.phone) if person.phone else None,
                "wechat": person.wechat_openid is not None,
                "channels": sorted(planned.addresses & plan.policy.channels),
                "grids": list(planned.grid_codes),
                "timeline": timeline(plan, planned, roster),
            }
        )
    resolution = plan.resolution
    return {
        "level": plan.lifecycle.level.value,
        "drill": plan.lifecycle.drill,
        "answer_within": format_duration(plan.policy.answer_within),
        "grids": [{"code": g.code, "name": g.name} for g in resolution.grids],
        "unstaffed_grids": [g.code for g in resolution.unstaffed],
        "unmatched_areas": list(resolution.unmatched),
        "aliased_areas": list(resolution.aliased),
        "broadcast_zones": [z.name for z in resolution.zones],
        "recipients": recipients,
    }
