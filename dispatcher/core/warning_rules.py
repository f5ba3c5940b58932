"""The validation rules a warning obeys, whichever wire format it came in.

`cap.py` and `jsonform.py` only read their format; every rule about what a warning may
contain lives here once, so CAP and JSON producers are held to the same contract. Each
function takes the `path` of the element it checks and raises `InvalidWarning` there
(`NotDispatchable` where the document is sound but names nothing jiaoying can act on).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ParamSpec, TypeVar

from dispatcher.core.errors import InvalidWarning, NotDispatchable
from dispatcher.core.model import (
    Area,
    Circle,
    Info,
    MsgType,
    Point,
    Polygon,
    Reference,
    Scope,
    Status,
    Warning,
)

URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
RESPONSE_TYPES = (
    "Shelter",
    "Evacuate",
    "Prepare",
    "Execute",
    "Avoid",
    "Monitor",
    "Assess",
    "AllClear",
    "None",
)

# Geocode schemes whose values can look like a 6-digit division code but are not one
# (a SAME code such as 006113, a postcode such as 516700): never read them as areas.
_FOREIGN_GEOCODES = frozenset(
    {"same", "fips", "fips6", "ugc", "nuts", "emma_id", "postcode", "zip", "邮编", "邮政编码"}
)
_ADMIN_CODE = re.compile(r"[0-9]{6}|[0-9]{9}|[0-9]{12}")
_RESTRICTED = re.compile(r"[\s,<&]")
MAX_TOKEN_LENGTH = 255
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_ACTED_ON = (MsgType.ALERT, MsgType.UPDATE)
_WITH_ARTICLE = {
    MsgType.ALERT: "an Alert",
    MsgType.UPDATE: "an Update",
    MsgType.CANCEL: "a Cancel",
    MsgType.ACK: "an Ack",
    MsgType.ERROR: "an Error",
}

_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")
_P = ParamSpec("_P")


@dataclass(frozen=True, slots=True)
class Reading:
    """What a document says, and every problem found in it.

    `warning` is built whenever the message's own fields could be read, even when an
    info block has problems (it then lacks what could not be read): a preview shows it
    beside the problems. Only with no problems at all is it a warning to accept.
    """

    warning: Warning | None
    problems: tuple[InvalidWarning, ...]

    @property
    def defects(self) -> tuple[InvalidWarning, ...]:
        """The problems that are defects of the document (not `NotDispatchable`)."""
        return tuple(p for p in self.problems if not isinstance(p, NotDispatchable))

    def accepted(self) -> Warning:
        """The warning; raises `InvalidWarning` carrying every problem if there is one."""
        if self.warning is None or self.problems:
            raise InvalidWarning.of(self.problems)
        return self.warning


class Problems:
    """The problems of one document, noted as they are found so that reading goes on
    and the document is refused with every one of them, not only the first."""

    def __init__(self) -> None:
        self.found: list[InvalidWarning] = []

    def noted(self, read: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        """What `read(*args, **kwargs)` returns, or None after noting the problem it raised."""
        try:
            return read(*args, **kwargs)
        except InvalidWarning as problem:
            self.found.extend(problem.problems)
            return None


def check_size(body: bytes, max_bytes: int) -> None:
    """Raise `InvalidWarning` when `body` is longer than `max_bytes` (checked before parsing)."""
    if len(body) > max_bytes:
        raise InvalidWarning(f"message is {len(body)} bytes, over the limit of {max_bytes}")


def check_token(value: str, name: str, path: str) -> str:
    """`value` if it is a usable CAP identifier or sender; raises `InvalidWarning` if not.

    CAP forbids spaces, commas, `<` and `&` in both, since `references` joins them with
    commas and spaces.
    """
    if not value:
        raise InvalidWarning(f"{name} is empty", path)
    if len(value) > MAX_TOKEN_LENGTH:  # the store keeps 255; refuse here, with a reason
        raise InvalidWarning(f"{name} is longer than {MAX_TOKEN_LENGTH} characters", path)
    if _RESTRICTED.search(value):
        raise InvalidWarning(
            f"{name} {value!r} contains a space, comma, '<' or '&', which CAP forbids", path
        )
    return value


def parse_datetime(text: str, path: str) -> datetime:
    """A timezone-aware datetime from CAP form `2026-07-20T02:00:00+08:00` (or `…Z`).

    Raises `InvalidWarning` for any other form, and for a time without a UTC offset:
    guessing the zone would shift every deadline by hours.
    """
    value = text.strip()
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise InvalidWarning(f"{value!r} is not a date-time like 2026-07-20T02:00:00+08:00", path)
    if match.group(1) is None:
        raise InvalidWarning(f"{value!r} has no UTC offset (write it like +08:00)", path)
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidWarning(f"{value!r} is not a valid date-time: {exc}", path) from None


def parse_choice(value: str, allowed: Sequence[str], name: str, path: str) -> str:
    """The CAP spelling of `value` among `allowed`, matched case-insensitively.

    Raises `InvalidWarning` naming the allowed values when none matches.
    """
    for choice in allowed:
        if value.strip().casefold() == choice.casefold():
            return choice
    raise InvalidWarning(f"{name} {value!r} is not one of {', '.join(allowed)}", path)


def _parse_enum(enum: type[_E], value: str, name: str, path: str) -> _E:
    return enum(parse_choice(value, [member.value for member in enum], name, path))


def parse_status(value: str, path: str) -> Status:
    """CAP `status`; raises `InvalidWarning` for anything but the five CAP values."""
    return _parse_enum(Status, value, "status", path)


def parse_scope(value: str, path: str) -> Scope:
    """CAP `scope`; raises `InvalidWarning` for anything but Public, Restricted, Private."""
    return _parse_enum(Scope, value, "scope", path)


def parse_msg_type(value: str, path: str, name: str = "msgType") -> MsgType:
    """CAP `msgType`, any of the five; raises `InvalidWarning` for another value."""
    return _parse_enum(MsgType, value, name, path)


def check_acted_on(msg_type: MsgType, path: str, name: str = "msgType") -> None:
    """Raise `NotDispatchable` for an Ack or Error: it answers a message, warns nobody."""
    if not msg_type.acted_on:
        raise NotDispatchable(
            f"{name} {msg_type.value} is not accepted: it answers a message, it is not a "
            "warning (jiaoying acts on Alert, Update and Cancel)",
            path,
        )


def parse_reference(sender: str, identifier: str, sent: str, path: str) -> Reference:
    """One `sender,identifier,sent` reference; raises `InvalidWarning` when a part is bad."""
    return Reference(
        sender=check_token(sender, "referenced sender", path),
        identifier=check_token(identifier, "referenced identifier", path),
        sent=parse_datetime(sent, path),
    )


def check_references(msg_type: MsgType, references: Sequence[Reference], path: str) -> None:
    """Raise `InvalidWarning` unless references are present exactly when CAP requires them.

    An Update, Cancel, Ack or Error must say which earlier message it concerns; an Alert
    is new.
    """
    if msg_type is MsgType.ALERT and references:
        raise InvalidWarning("references are not allowed on an Alert", path)
    if msg_type is not MsgType.ALERT and not references:
        raise InvalidWarning(
            f"{_WITH_ARTICLE[msg_type]} must reference the message(s) it replaces", path
        )


def make_point(lat: float, lon: float, path: str) -> Point:
    """A WGS84 point; raises `InvalidWarning` when lat or lon is out of range (or NaN)."""
    if not -90.0 <= lat <= 90.0:
        raise InvalidWarning(f"latitude {lat} is outside [-90, 90]", path)
    if not -180.0 <= lon <= 180.0:
        raise InvalidWarning(f"longitude {lon} is outside [-180, 180]", path)
    return Point(lat=lat, lon=lon)


def make_polygon(pairs: Sequence[tuple[float, float]], path: str) -> Polygon:
    """A closed polygon from (lat, lon) pairs.

    Raises `InvalidWarning` for fewer than four pairs, a ring whose first and last pairs
    differ, or a point out of range.
    """
    if len(pairs) < 4:
        raise InvalidWarning(f"polygon has {len(pairs)} points; at least 4 are required", path)
    points = tuple(make_point(lat, lon, path) for lat, lon in pairs)
    if points[0] != points[-1]:
        raise InvalidWarning("polygon is not closed: its first and last points differ", path)
    return Polygon(points=points)


def make_circle(lat: float, lon: float, radius_km: float, path: str) -> Circle:
    """A circle around (lat, lon); raises `InvalidWarning` unless its radius is positive."""
    center = make_point(lat, lon, path)
    if not (math.isfinite(radius_km) and radius_km > 0):
        raise InvalidWarning(f"circle radius {radius_km} km is not a positive number", path)
    return Circle(center=center, radius_km=radius_km)


def is_admin_code(value: str) -> bool:
    """True for a 6-, 9- or 12-digit administrative division code (county, township, village)."""
    return _ADMIN_CODE.fullmatch(value) is not None


def admin_code(value_name: str, value: str) -> str | None:
    """The division code a CAP `geocode` carries, or None when it carries another scheme."""
    if value_name.strip().casefold() in _FOREIGN_GEOCODES:
        return None
    code = value.strip()
    return code if is_admin_code(code) else None


def finish_area(
    description: str,
    geocodes: Iterable[str],
    polygons: Iterable[Polygon],
    circles: Iterable[Circle],
    path: str,
    other_geocodes: Iterable[tuple[str, str]] = (),
) -> Area:
    """An `Area` from validated parts.

    Raises `InvalidWarning` when the description is empty. An area with no division
    code, polygon or circle is kept: the roster's area aliases may place it by another
    geocode or by its description, and planning says so when they do not.
    """
    area = Area(
        description=description.strip(),
        geocodes=tuple(dict.fromkeys(geocodes)),
        polygons=tuple(polygons),
        circles=tuple(circles),
        other_geocodes=tuple(dict.fromkeys(other_geocodes)),
    )
    if not area.description:
        raise InvalidWarning("area has no description (areaDesc)", path)
    return area


def has_place(area: Area) -> bool:
    """Whether `area` can be placed without a roster's aliases: a division code, a polygon
    or a circle."""
    return bool(area.geocodes or area.polygons or area.circles)


def check_infos(msg_type: MsgType, infos: Sequence[Info], path: str, info_name: str) -> None:
    """Raise `NotDispatchable` when an Alert or Update has no info block or no area at all.

    Such a message names nobody to warn; accepting it would look like success.
    """
    if msg_type not in _ACTED_ON:
        return
    if not infos:
        raise NotDispatchable(f"{_WITH_ARTICLE[msg_type]} needs at least one {info_name}", path)
    if not any(info.areas for info in infos):
        raise NotDispatchable(
            f"{_WITH_ARTICLE[msg_type]} needs at least one area: nobody to warn", path
        )
