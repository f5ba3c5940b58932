"""What would stop a readable warning from being dispatched, said before it is sent.

Pure: `review` takes the reading of a document, the policy and `now`. A document with
defects is refused outright; one without is shown with every reason jiaoying would not
call anybody for it — an Ack, no level and no default level, already expired, no area it
could place, nobody in the roster for it — so an operator trying a feed from elsewhere
sees all of them at once. With a roster, `preview_plan` says who would be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatcher.core.area import resolve
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.model import MsgType, Warning
from dispatcher.core.phones import mask_phone
from dispatcher.core.plan import addresses_of, plan_alert, resolve_or_reject, settle_level
from dispatcher.core.policy import Policy
from dispatcher.core.preview import describe_plan
from dispatcher.core.roster import Roster
from dispatcher.core.warning_rules import Reading, has_place


@dataclass(frozen=True, slots=True)
class Review:
    """A readable warning and what would stop it.

    `warning` has its level settled as ingest would settle it (`level_from_default` says
    the policy's default gave it); `blockers` are `path: reason` lines, empty when it
    would be dispatched; `references` are the earlier messages an Update or Cancel
    names, which only the running service can look up.
    """

    warning: Warning
    level_from_default: bool
    blockers: tuple[str, ...]
    references: tuple[str, ...]


def review(reading: Reading, policy: Policy, now: datetime, roster: Roster | None = None) -> Review:
    """The review of a reading without defects; raises `InvalidWarning` with every defect
    of one that has them (or that could not be read at all). With `roster`, whether its
    areas reach a grid of it (through its area aliases too); without, whether they could
    be placed at all without aliases."""
    if reading.warning is None or reading.defects:
        raise InvalidWarning.of(reading.defects or reading.problems)
    warning = reading.warning
    blockers = [str(problem) for problem in reading.problems]
    settled = warning
    try:
        settled = settle_level(warning, policy.default_level)
    except InvalidWarning as no_level:
        blockers.append(str(no_level))
    if warning.expires is not None and warning.expires <= now:
        blockers.append(
            f"expires {warning.expires.isoformat()}: already expired, nobody would be called"
        )
    if warning.msg_type in (MsgType.ALERT, MsgType.UPDATE) and warning.areas:
        blockers += _area_blockers(warning, roster)
    references = tuple(
        f"{reference.sender},{reference.identifier},{reference.sent.isoformat()}"
        for reference in warning.references
    )
    return Review(settled, settled is not warning, tuple(blockers), references)


def _area_blockers(warning: Warning, roster: Roster | None) -> list[str]:
    if roster is not None:
        try:
            resolve_or_reject(warning, roster)
        except InvalidWarning as nowhere:
            return [str(nowhere)]
        return []
    if any(has_place(area) for area in warning.areas):
        return []
    cap = warning.source == "cap"
    return [
        f"{f'alert/info[{i}]/area[{a}]' if cap else f'infos[{i}].areas[{a}]'}: area has no "
        "administrative code, polygon or circle; only a roster's area_aliases can place it ("
        + (", ".join(f"{name} {value}" for name, value in area.other_geocodes) or "areaDesc")
        + ")"
        for i, info in enumerate(warning.infos)
        for a, area in enumerate(info.areas)
    ]


def preview_plan(review: Review, roster: Roster, policy: Policy) -> dict[str, Any]:
    """Who would be told, and how, as plain data; a reason in `blocked` when nobody.

    An Alert gets its whole plan (each person's timeline if nobody answers). An Update
    or Cancel is applied by the running service to the warning it references; offline,
    its own areas are resolved against the roster: the persons it names.
    """
    warning = review.warning
    if warning.msg_type is MsgType.ALERT:
        try:
            return describe_plan(plan_alert(warning, roster, policy), roster)
        except InvalidWarning as nobody:
            return {"blocked": str(nobody)}
    resolution = resolve(warning.areas, roster)
    return {
        "msg_type": warning.msg_type.value,
        "references_not_looked_up": list(review.references),
        "grids": [{"code": g.code, "name": g.name} for g in resolution.grids],
        "unmatched_areas": list(resolution.unmatched),
        "aliased_areas": list(resolution.aliased),
        "broadcast_zones": [zone.name for zone in resolution.zones],
        "recipients": [
            {
                "id": target.person.id,
                "name": target.person.name,
                "role": target.person.role,
                "phone": mask_phone(target.person.phone) if target.person.phone else None,
                "channels": sorted(addresses_of(target.person)),
                "grids": list(target.grid_codes),
            }
            for target in resolution.recipients
        ],
    }
