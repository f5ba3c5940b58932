"""The warning as jiaoying understands it: one frozen value, whatever format it came in.

CAP 1.2 XML and the JSON form both parse into `Warning`; nothing downstream sees the
wire format again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class Level(StrEnum):
    """Warning level (预警级别), from the most to the least severe."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"

    @property
    def rank(self) -> int:
        """4 for red down to 1 for blue, so levels compare by severity."""
        return _RANK[self]

    @property
    def chinese(self) -> str:
        return _CHINESE[self]


_RANK = {Level.RED: 4, Level.ORANGE: 3, Level.YELLOW: 2, Level.BLUE: 1}
_CHINESE = {Level.RED: "红色", Level.ORANGE: "橙色", Level.YELLOW: "黄色", Level.BLUE: "蓝色"}


class Status(StrEnum):
    """CAP `status`. Only `Actual` is a real warning; every other status is a drill."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(StrEnum):
    """CAP `msgType`. jiaoying acts on Alert, Update and Cancel; an Ack or Error answers a
    message and is read only to be shown (`parse`) and refused (`NotDispatchable`)."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"

    @property
    def acted_on(self) -> bool:
        """True for the three message types jiaoying dispatches or applies."""
        return self in (MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL)


class Scope(StrEnum):
    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS84 position in decimal degrees."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """A closed ring of at least four points, the first equal to the last (CAP 1.2)."""

    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Circle:
    center: Point
    radius_km: float


@dataclass(frozen=True, slots=True)
class Area:
    """One CAP `<area>`: where people must be warned.

    `geocodes` holds only values that are administrative division codes (6, 9 or 12
    digits, GB/T 2260 and its township/village extensions), whatever their valueName.
    `other_geocodes` keeps the other geocodes as (valueName, value) pairs — a weather
    service's zone (UGC, FIPS6, EMMA_ID), a river basin: a roster's area aliases may
    place them.
    """

    description: str
    geocodes: tuple[str, ...] = ()
    polygons: tuple[Polygon, ...] = ()
    circles: tuple[Circle, ...] = ()
    other_geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    """One `sender,identifier,sent` triple of CAP `references`."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class Info:
    """One CAP `<info>` block; a warning carries one per language."""

    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    level: Level | None
    categories: tuple[str, ...] = ()
    response_types: tuple[str, ...] = ()
    headline: str = ""
    description: str = ""
    instruction: str = ""
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    areas: tuple[Area, ...] = ()

    @property
    def all_clear(self) -> bool:
        return "AllClear" in self.response_types


@dataclass(frozen=True, slots=True)
class Warning:
    """A parsed, validated warning message (CAP `<alert>` or its JSON form).

    Identity is (sender, identifier, sent), as CAP `references` name it.
    All datetimes are timezone-aware.
    """

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    scope: Scope
    infos: tuple[Info, ...]
    references: tuple[Reference, ...] = ()
    note: str = ""
    source: str = field(default="cap", compare=False)

    @property
    def drill(self) -> bool:
        """True for anything but `Actual`: exercises, tests, system and draft messages."""
        return self.status is not Status.ACTUAL

    @property
    def primary(self) -> Info:
        """The info block jiaoying speaks from: the first Chinese one, else the first
        English one (a MeteoAlarm warning leads in its country's language), else the first."""
        for prefix in ("zh", "en"):
            for info in self.infos:
                if info.language.lower().startswith(prefix):
                    return info
        return self.infos[0]

    @property
    def level(self) -> Level | None:
        """The highest level of any info block (None only for a Cancel without one)."""
        levels = [info.level for info in self.infos if info.level is not None]
        return max(levels, key=lambda level: level.rank) if levels else None

    @property
    def expires(self) -> datetime | None:
        """The latest `expires` of the info blocks; None when no block sets one."""
        ends = [info.expires for info in self.infos if info.expires is not None]
        return max(ends) if ends else None

    @property
    def all_clear(self) -> bool:
        return any(info.all_clear for info in self.infos)

    @property
    def areas(self) -> tuple[Area, ...]:
        """Every area of every info block (languages repeat the same areas; callers dedupe)."""
        return tuple(area for info in self.infos for area in info.areas)

    @property
    def key(self) -> tuple[str, str, datetime]:
        return (self.sender, self.identifier, self.sent)


def with_level(warning: Warning, level: Level) -> Warning:
    """`warning` with `level` stated on each info block that states none."""
    infos = tuple(info if info.level else replace(info, level=level) for info in warning.infos)
    return replace(warning, infos=infos)
