"""CAP and the JSON form are two spellings of one warning: both parse to what was written."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.core.cap import parse_cap
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.jsonform import parse_json, warning_from_data, warning_to_data
from dispatcher.core.levels import is_level_parameter
from dispatcher.core.model import (
    Area,
    Circle,
    Info,
    Level,
    MsgType,
    Point,
    Polygon,
    Reference,
    Scope,
    Status,
    Warning,
)
from dispatcher.core.warning_rules import CERTAINTIES, RESPONSE_TYPES, SEVERITIES, URGENCIES

EXAMPLES = Path(__file__).parents[2] / "examples" / "warnings"


def to_cap(warning: Warning) -> bytes:
    """The warning written as CAP 1.2, the way a producer would."""

    def element(name: str, value: str) -> str:
        return f"<{name}>{escape(value)}</{name}>"

    def area(area: Area) -> str:
        return (
            "<area>"
            + element("areaDesc", area.description)
            + "".join(
                element("polygon", " ".join(f"{p.lat!r},{p.lon!r}" for p in polygon.points))
                for polygon in area.polygons
            )
            + "".join(
                element("circle", f"{c.center.lat!r},{c.center.lon!r} {c.radius_km!r}")
                for c in area.circles
            )
            + "".join(
                f"<geocode>{element('valueName', 'ADCODE')}{element('value', code)}</geocode>"
                for code in area.geocodes
            )
            + "</area>"
        )

    def info(info: Info) -> str:
        times = [("effective", info.effective), ("onset", info.onset), ("expires", info.expires)]
        texts = [
            ("headline", info.headline),
            ("description", info.description),
            ("instruction", info.instruction),
            ("senderName", info.sender_name),
        ]
        return (
            "<info>"
            + element("language", info.language)
            + "".join(element("category", category) for category in info.categories)
            + element("event", info.event)
            + "".join(element("responseType", response) for response in info.response_types)
            + element("urgency", info.urgency)
            + element("severity", info.severity)
            + element("certainty", info.certainty)
            + "".join(element(name, time.isoformat()) for name, time in times if time)
            + "".join(element(name, text) for name, text in texts if text)
            + "".join(
                f"<parameter>{element('valueName', name)}{element('value', value)}</parameter>"
                for name, value in info.parameters
            )
            + "".join(area(each) for each in info.areas)
            + "</info>"
        )

    references = " ".join(
        f"{ref.sender},{ref.identifier},{ref.sent.isoformat()}" for ref in warning.references
    )
    return (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        + element("identifier", warning.identifier)
        + element("sender", warning.sender)
        + element("sent", warning.sent.isoformat())
        + element("status", warning.status.value)
        + element("msgType", warning.msg_type.value)
        + element("scope", warning.scope.value)
        + (element("note", warning.note) if warning.note else "")
        + (element("references", references) if references else "")
        + "".join(info(each) for each in warning.infos)
        + "</alert>"
    ).encode()


def to_json(warning: Warning) -> bytes:
    """The warning written in the JSON form (no explicit `level`: it is derived alike)."""

    def time(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    def area(area: Area) -> dict[str, Any]:
        return {
            "description": area.description,
            "geocodes": list(area.geocodes),
            "polygons": [[[p.lat, p.lon] for p in polygon.points] for polygon in area.polygons],
            "circles": [
                {"lat": c.center.lat, "lon": c.center.lon, "radius_km": c.radius_km}
                for c in area.circles
            ],
        }

    def info(info: Info) -> dict[str, Any]:
        return {
            "language": info.language,
            "event": info.event,
            "categories": list(info.categories),
            "response_types": list(info.response_types),
            "urgency": info.urgency,
            "severity": info.severity,
            "certainty": info.certainty,
            "headline": info.headline,
            "description": info.description,
            "instruction": info.instruction,
            "effective": time(info.effective),
            "onset": time(info.onset),
            "expires": time(info.expires),
            "sender_name": info.sender_name,
            "parameters": dict(info.parameters),
            "areas": [area(each) for each in info.areas],
        }

    return json.dumps(
        {
            "identifier": warning.identifier,
            "sender": warning.sender,
            "sent": warning.sent.isoformat(),
            "status": warning.status.value,
            "msg_type": warning.msg_type.value,
            "scope": warning.scope.value,
            "references": [
                {"sender": ref.sender, "identifier": ref.identifier, "sent": ref.sent.isoformat()}
                for ref in warning.references
            ],
            "note": warning.note,
            "infos": [info(each) for each in warning.infos],
        },
        ensure_ascii=False,
    ).encode()


# XML cannot carry control characters, and CAP text is read stripped.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=12).map(str.strip)
NONEMPTY = TEXT.filter(bool)
TOKEN = st.from_regex(r"[A-Za-z0-9_.:-]{1,24}", fullmatch=True)
ADMIN_CODE = st.from_regex(r"[0-9]{6}|[0-9]{9}|[0-9]{12}", fullmatch=True)
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
TIMES = st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1), timezones=OFFSETS)
POINTS = st.builds(Point, st.floats(-90, 90), st.floats(-180, 180))
POLYGONS = st.lists(POINTS, min_size=3, max_size=6).map(lambda ring: Polygon((*ring, ring[0])))
CIRCLES = st.builds(Circle, POINTS, st.floats(0, 20_000, exclude_min=True))
AREAS = st.builds(
    Area,
    NONEMPTY,
    st.lists(ADMIN_CODE, unique=True, max_size=3).map(tuple),
    st.lists(POLYGONS, max_size=2).map(tuple),
    st.lists(CIRCLES, max_size=2).map(tuple),
).filter(lambda area: bool(area.geocodes or area.polygons or area.circles))
PARAMETER_NAMES = NONEMPTY.filter(lambda name: not is_level_parameter(name))


@st.composite
def infos(draw: st.DrawFn) -> Info:
    level = draw(st.sampled_from(Level))
    extra = draw(st.dictionaries(PARAMETER_NAMES, TEXT, max_size=3))
    return Info(
        language=draw(st.sampled_from(["zh-CN", "en-US", "ug-CN"])),
        event=draw(NONEMPTY),
        urgency=draw(st.sampled_from(URGENCIES)),
        severity=draw(st.sampled_from(SEVERITIES)),
        certainty=draw(st.sampled_from(CERTAINTIES)),
        level=level,
        categories=tuple(draw(st.lists(NONEMPTY, max_size=2))),
        response_types=tuple(draw(st.lists(st.sampled_from(RESPONSE_TYPES), max_size=2))),
        headline=draw(TEXT),
        description=draw(TEXT),
        instruction=draw(TEXT),
        effective=draw(st.none() | TIMES),
        onset=draw(st.none() | TIMES),
        expires=draw(st.none() | TIMES),
        sender_name=draw(TEXT),
        parameters=(("预警级别", level.chinese), *extra.items()),
        areas=tuple(draw(st.lists(AREAS, min_size=1, max_size=3))),
    )


@st.composite
def warnings(draw: st.DrawFn) -> Warning:
    msg_type = draw(st.sampled_from([m for m in MsgType if m.acted_on]))  # Ack/Error: refused
    references = st.builds(Reference, TOKEN, TOKEN, TIMES)
    return Warning(
        identifier=draw(TOKEN),
        sender=draw(TOKEN),
        sent=draw(TIMES),
        status=draw(st.sampled_from(Status)),
        msg_type=msg_type,
        scope=draw(st.sampled_from(Scope)),
        infos=tuple(
            draw(st.lists(infos(), min_size=0 if msg_type is MsgType.CANCEL else 1, max_size=2))
        ),
        references=()
        if msg_type is MsgType.ALERT
        else tuple(draw(st.lists(references, min_size=1, max_size=3))),
        note=draw(TEXT),
    )


@settings(deadline=None)
@given(warnings())
def test_a_warning_written_in_either_format_parses_back_to_itself(warning: Warning) -> None:
    assert parse_cap(to_cap(warning)) == warning
    assert parse_json(to_json(warning)) == warning


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.xml")), ids=lambda path: path.name)
def test_every_cap_example_reads_the_same_in_the_json_form(path: Path) -> None:
    warning = parse_cap(path.read_bytes())
    assert parse_json(to_json(warning)) == warning


def test_the_json_example_reads_the_same_as_cap() -> None:
    warning = parse_json((EXAMPLES / "blue-gale.json").read_bytes())
    assert parse_cap(to_cap(warning)) == warning


@settings(deadline=None)
@given(warnings(), st.lists(st.tuples(NONEMPTY, TEXT), max_size=4))
def test_stored_data_reads_back_to_the_same_warning(
    warning: Warning, parameters: list[tuple[str, str]]
) -> None:
    # Repeated parameter names are legal in CAP; the stored form must keep every one.
    repeated = [*parameters, *parameters[:1]]
    warning = dataclasses.replace(
        warning,
        infos=tuple(
            dataclasses.replace(info, parameters=tuple(repeated)) for info in warning.infos
        ),
    )
    data = warning_to_data(warning)
    assert json.loads(json.dumps(data)) == data
    assert warning_from_data(data) == warning


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.xml")), ids=lambda path: path.name)
def test_every_cap_example_survives_storage(path: Path) -> None:
    warning = parse_cap(path.read_bytes())
    assert warning_from_data(json.loads(json.dumps(warning_to_data(warning)))) == warning


def test_data_that_is_not_a_stored_warning_is_refused() -> None:
    with pytest.raises(InvalidWarning, match="not JSON data"):
        warning_from_data({"sent": datetime(2026, 7, 20)})
    with pytest.raises(InvalidWarning, match="required field is missing"):
        warning_from_data({"identifier": "x"})
