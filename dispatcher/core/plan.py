"""From a warning and a roster to the dispatch plan: who is called, under which policy.

Pure: the ingest path stores the plan; the CLI prints it before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatcher.core.area import Resolution, describe_area, resolve
from dispatcher.core.errors import InvalidWarning, NotDispatchable
from dispatcher.core.lifecycle import Lifecycle, start
from dispatcher.core.model import Area, Level, MsgType, Warning, with_level
from dispatcher.core.policy import LevelPolicy, Policy
from dispatcher.core.roster import Person, Roster
from dispatcher.core.warning_rules import has_place


def addresses_of(person: Person) -> frozenset[str]:
    """The person channels the roster can reach `person` on."""
    channels: set[str] = set()
    if person.phone:
        channels.update(("voice", "sms"))
    if person.wechat_openid:
        channels.add("wechat")
    return frozenset(channels)


@dataclass(frozen=True, slots=True)
class PlannedRecipient:
    person_id: str
    grid_codes: tuple[str, ...]
    addresses: frozenset[str]


@dataclass(frozen=True, slots=True)
class Plan:
    lifecycle: Lifecycle
    policy: LevelPolicy
    resolution: Resolution
    recipients: tuple[PlannedRecipient, ...]


def recipients_of(resolution: Resolution) -> tuple[PlannedRecipient, ...]:
    return tuple(
        PlannedRecipient(t.person.id, t.grid_codes, addresses_of(t.person))
        for t in resolution.recipients
    )


def resolve_or_reject(warning: Warning, roster: Roster) -> Resolution:
    """Resolve the warning's areas; raise InvalidWarning when they reach nobody: no grid
    in this roster (each area named, with the codes it gave), or no person for the grids."""
    resolution = resolve(warning.areas, roster)
    if not resolution.grids:
        areas = dict.fromkeys(warning.areas)
        described = "; ".join(_with_codes(area) for area in areas) or "no area"
        placeable = any(area.other_geocodes or not has_place(area) for area in areas)
        hint = _ALIAS_HINT if placeable else ""
        raise InvalidWarning(
            f"unknown area: no grid in this roster for {described}{hint}", "alert/info/area"
        )
    if not resolution.recipients:
        described = "; ".join(resolution.unmatched) or "no area"
        raise InvalidWarning(
            f"unknown area: no grid person of the roster answers for it ({described})",
            "alert/info/area",
        )
    return resolution


_ALIAS_HINT = (
    " (a geocode of another scheme, or an areaDesc, is placed by a row of the roster's"
    " area_aliases: value_name,value,code)"
)


def _with_codes(area: Area) -> str:
    codes = [*area.geocodes, *(f"{name} {value}" for name, value in area.other_geocodes)]
    shapes = len(area.polygons) + len(area.circles)
    parts = [
        *codes[:6],
        *(["…"] if len(codes) > 6 else []),
        *([f"{shapes} shape(s)"] * bool(shapes)),
    ]
    return f"{describe_area(area)} [{', '.join(parts) or 'areaDesc only'}]"


def settle_level(warning: Warning, default_level: Level | None) -> Warning:
    """An Alert whose level cannot be told (severity Unknown, no level parameter, no
    colour word) with the policy's `default_level` stated; any other warning unchanged.

    Raises `NotDispatchable` for such an Alert when the policy names no default level.
    An Update that states no level keeps its chain's, which only the store knows.
    """
    if warning.msg_type is not MsgType.ALERT or warning.level is not None:
        return warning
    if default_level is not None:
        return with_level(warning, default_level)
    severities = ", ".join(dict.fromkeys(info.severity for info in warning.infos)) or "none"
    raise NotDispatchable(
        f"cannot tell the warning level: severity {severities}, no level parameter and no "
        "colour word in the event or headline, and the policy names no default_level "
        "(set one, e.g. `default_level: yellow`, to take such warnings)",
        "alert/info[0]/severity" if warning.source == "cap" else "infos[0].severity",
    )


def plan_alert(warning: Warning, roster: Roster, policy: Policy) -> Plan:
    """The plan for a new Alert. Raises InvalidWarning when it cannot be dispatched."""
    lifecycle = start(settle_level(warning, policy.default_level))
    resolution = resolve_or_reject(warning, roster)
    return Plan(
        lifecycle=lifecycle,
        policy=policy.for_level(lifecycle.level),
        resolution=resolution,
        recipients=recipients_of(resolution),
    )
