"""The JSON form: same rules as CAP, strict types, CAP's defaults, paths like infos[0].areas[1]."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.core.errors import InvalidWarning
from dispatcher.core.jsonform import parse_json
from dispatcher.core.model import Circle, Level, MsgType, Point, Scope, Status
from tests.json_paths import json_paths

EXAMPLE = Path(__file__).parents[2] / "examples" / "warnings" / "blue-gale.json"
BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 7, 20, 2, 0, tzinfo=BEIJING)
DELETE = object()

BASE: dict[str, Any] = {
    "id": "44152341600000_20260720020000",
    "sender": "44152341600000",
    "sent": "2026-07-20T02:00:00+08:00",
    "infos": [
        {
            "language": "zh-CN",
            "event": "暴雨预警",
            "severity": "Extreme",
            "level": "red",
            "expires": "2026-07-20T08:00:00+08:00",
            "parameters": {"预警级别": "红色"},
            "areas": [
                {"description": "河田镇", "geocodes": ["441523100"]},
                {
                    "description": "螺溪河沿岸",
                    "polygons": [
                        [[23.425, 115.545], [23.425, 115.59], [23.395, 115.59], [23.425, 115.545]]
                    ],
                    "circles": [{"lat": 23.302, "lon": 115.657, "radius_km": 15}],
                },
            ],
        }
    ],
}
REFERENCE = {
    "sender": "44152341600000",
    "identifier": "44152341600000_20260720020000",
    "sent": "2026-07-20T02:00:00+08:00",
}


def document(*changes: tuple[tuple[str | int, ...], object]) -> bytes:
    """BASE with the value at each path replaced, appended to a list, or removed (DELETE)."""
    doc = copy.deepcopy(BASE)
    for path, value in changes:
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        if value is DELETE:
            del parent[path[-1]]
        elif isinstance(parent, list) and path[-1] == len(parent):
            parent.append(value)
        else:
            parent[path[-1]] = value
    return json.dumps(doc, ensure_ascii=False).encode()


def refusal(body: bytes, **kwargs: int) -> InvalidWarning:
    with pytest.raises(InvalidWarning) as caught:
        parse_json(body, **kwargs)
    return caught.value


def test_the_base_document_parses_with_every_part() -> None:
    warning = parse_json(document())
    info = warning.infos[0]
    assert (warning.identifier, warning.sent, warning.source) == (
        "44152341600000_20260720020000",
        T0,
        "json",
    )
    assert (info.level, info.expires, info.parameters) == (
        Level.RED,
        T0 + timedelta(hours=6),
        (("预警级别", "红色"),),
    )
    assert info.areas[0].geocodes == ("441523100",)
    assert info.areas[1].polygons[0].points[1] == Point(23.425, 115.59)
    assert info.areas[1].circles == (Circle(Point(23.302, 115.657), 15.0),)


I0 = ("infos", 0)
A0 = (*I0, "areas", 0)
A1 = (*I0, "areas", 1)
POLYGON = (*A1, "polygons", 0)
UPDATE = (("msg_type",), "Update")

REJECTIONS = [
    pytest.param([(("id",), DELETE)], "identifier (or id) is required", "identifier", id="no id"),
    pytest.param(
        [(("identifier",), "x")], "give identifier or its alias id, not both", "id", id="both"
    ),
    pytest.param([(("id",), "a b")], "contains a space, comma", "id", id="id with space"),
    pytest.param(
        [(("id",), DELETE), (("identifier",), "a,b")],
        "contains a space, comma",
        "identifier",
        id="identifier with comma",
    ),
    pytest.param([(("sender",), DELETE)], "required field is missing", "sender", id="no sender"),
    pytest.param(
        [(("sender",), 44152341600000)],
        "Input should be a valid string",
        "sender",
        id="sender number",
    ),
    pytest.param(
        [(("sent",), "2026-07-20T02:00:00")], "has no UTC offset", "sent", id="naive sent"
    ),
    pytest.param(
        [(("sent",), 1784484000)], "Input should be a valid string", "sent", id="epoch sent"
    ),
    pytest.param(
        [(("status",), "Real")], "status 'Real' is not one of Actual", "status", id="status"
    ),
    pytest.param([(("msg_type",), "Ack")], "msg_type Ack is not accepted", "msg_type", id="Ack"),
    pytest.param([(("scope",), "All")], "scope 'All' is not one of Public", "scope", id="scope"),
    pytest.param(
        [(("expires",), "2026-07-20T08:00:00+08:00")],
        "unknown field (not part of the JSON form; check its spelling)",
        "expires",
        id="unknown key",
    ),
    pytest.param(
        [((*I0, "expiers"), "x")],
        "unknown field (not part of the JSON form; check its spelling)",
        "infos[0].expiers",
        id="misspelt key",
    ),
    pytest.param(
        [UPDATE],
        "an Update must reference the message(s) it replaces",
        "references",
        id="Update without references",
    ),
    pytest.param(
        [(("references",), [REFERENCE])],
        "references are not allowed on an Alert",
        "references",
        id="Alert with references",
    ),
    pytest.param(
        [UPDATE, (("references",), [{**REFERENCE, "sent": "2026-07-20T02:00:00"}])],
        "has no UTC offset",
        "references[0]",
        id="reference naive",
    ),
    pytest.param(
        [UPDATE, (("references",), [{"sender": "s", "sent": "x"}])],
        "required field is missing",
        "references[0].identifier",
        id="reference incomplete",
    ),
    pytest.param(
        [(("references",), "s,i,2026-07-20T02:00:00+08:00")],
        "Input should be a valid array",
        "references",
        id="CAP-style references",
    ),
    pytest.param([(("infos",), [])], "an Alert needs at least one info", "infos", id="no infos"),
    pytest.param([((*I0, "event"), " ")], "event is empty", "infos[0].event", id="empty event"),
    pytest.param(
        [((*I0, "event"), DELETE)], "required field is missing", "infos[0].event", id="no event"
    ),
    pytest.param(
        [((*I0, "level"), "purple")],
        "level 'purple' is not a warning level",
        "infos[0].level",
        id="unknown level",
    ),
    pytest.param(
        [((*I0, "level"), 4)], "Input should be a valid string", "infos[0].level", id="level number"
    ),
    pytest.param(
        [((*I0, "severity"), "Huge")],
        "severity 'Huge' is not one of Extreme",
        "infos[0].severity",
        id="severity",
    ),
    pytest.param(
        [((*I0, "urgency"), "Now")],
        "urgency 'Now' is not one of Immediate",
        "infos[0].urgency",
        id="urgency",
    ),
    pytest.param(
        [((*I0, "certainty"), "Sure")],
        "certainty 'Sure' is not one of Observed",
        "infos[0].certainty",
        id="certainty",
    ),
    pytest.param(
        [((*I0, "response_types"), ["Shelter", "Run"])],
        "response type 'Run' is not one of Shelter",
        "infos[0].response_types[1]",
        id="response type",
    ),
    pytest.param(
        [((*I0, "expires"), "2026-07-20 08:00")],
        "is not a date-time like",
        "infos[0].expires",
        id="expires form",
    ),
    pytest.param(
        [((*I0, "parameters"), {"预警级别": 4})],
        "Input should be a valid string",
        "infos[0].parameters.预警级别",
        id="parameter number",
    ),
    pytest.param(
        [((*A0, "description"), DELETE)],
        "required field is missing",
        "infos[0].areas[0].description",
        id="no description",
    ),
    pytest.param(
        [((*A0, "description"), "")],
        "area has no description",
        "infos[0].areas[0]",
        id="empty description",
    ),
    pytest.param(
        [((*A0, "geocodes"), ["441523100", "4415231"])],
        "geocode '4415231' is not an administrative division code",
        "infos[0].areas[0].geocodes[1]",
        id="7-digit geocode",
    ),
    pytest.param(
        [((*A0, "geocodes"), ["SAME:006113"])],
        "is not an administrative division code",
        "infos[0].areas[0].geocodes[0]",
        id="SAME geocode",
    ),
    pytest.param(
        [((*A0, "geocodes"), [441523100])],
        "Input should be a valid string",
        "infos[0].areas[0].geocodes[0]",
        id="numeric geocode",
    ),
    pytest.param(
        [(POLYGON, [[1, 2], [3, 4], [1, 2]])],
        "polygon has 3 points; at least 4 are required",
        "infos[0].areas[1].polygons[0]",
        id="short polygon",
    ),
    pytest.param(
        [(POLYGON, [[1, 2], [3, 4], [5, 6], [1, 3]])],
        "polygon is not closed",
        "infos[0].areas[1].polygons[0]",
        id="open polygon",
    ),
    pytest.param(
        [(POLYGON, [[1, 2], [91, 4], [5, 6], [1, 2]])],
        "latitude 91.0 is outside [-90, 90]",
        "infos[0].areas[1].polygons[0]",
        id="latitude",
    ),
    pytest.param(
        [(POLYGON, [[1, 2], [3, -180.5], [5, 6], [1, 2]])],
        "longitude -180.5 is outside",
        "infos[0].areas[1].polygons[0]",
        id="longitude",
    ),
    pytest.param(
        [(POLYGON, [[1, 2], [3, 4, 5], [5, 6], [1, 2]])],
        "Tuple should have at most 2 items",
        "infos[0].areas[1].polygons[0][1]",
        id="triple",
    ),
    pytest.param(
        [(POLYGON, [[1, 2], ["3", 4], [5, 6], [1, 2]])],
        "Input should be a valid number",
        "infos[0].areas[1].polygons[0][1][0]",
        id="string coordinate",
    ),
    pytest.param(
        [((*A1, "circles", 0, "radius_km"), 0)],
        "circle radius 0.0 km is not a positive number",
        "infos[0].areas[1].circles[0]",
        id="zero radius",
    ),
    pytest.param(
        [((*A1, "circles", 0, "radius_km"), DELETE)],
        "required field is missing",
        "infos[0].areas[1].circles[0].radius_km",
        id="no radius",
    ),
    pytest.param(
        [((*A1, "circles", 0, "lat"), True)],
        "Input should be a valid number",
        "infos[0].areas[1].circles[0].lat",
        id="boolean lat",
    ),
    pytest.param(
        [
            (
                ("infos", 1),
                {
                    "event": "暴雨",
                    "level": "红色",
                    "areas": [
                        {"description": "x", "circles": [{"lat": 1, "lon": 2, "radius_km": -1}]}
                    ],
                },
            )
        ],
        "circle radius -1.0 km",
        "infos[1].areas[0].circles[0]",
        id="second info",
    ),
    pytest.param(
        [(("sender",), 1), (("sent",), 2)],
        "2 problems:\nsender: Input should be a valid string\nsent: Input should be a valid string",
        "sender",
        id="two problems",
    ),
]


@pytest.mark.parametrize(("changes", "reason", "path"), REJECTIONS)
def test_a_broken_rule_is_refused_with_its_reason_and_path(
    changes: list[tuple[tuple[str | int, ...], object]], reason: str, path: str
) -> None:
    error = refusal(document(*changes))
    assert reason in error.reason
    assert error.path == path


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"", "Invalid JSON", id="empty"),
        pytest.param(document()[:200], "Invalid JSON", id="truncated"),
        pytest.param('{"id": "é"}'.encode("latin-1"), "Invalid JSON", id="latin-1"),
        pytest.param(
            b"[" * 5000 + b"]" * 5000, "Invalid JSON: recursion limit exceeded", id="deep"
        ),
        pytest.param(b"[]", "Input should be an object", id="array"),
        pytest.param(b"null", "Input should be an object", id="null"),
        pytest.param(b"<alert/>", "Invalid JSON", id="XML"),
    ],
)
def test_unreadable_bodies_are_refused(body: bytes, reason: str) -> None:
    error = refusal(body)
    assert reason in error.reason
    assert error.path == ""


def test_an_oversize_body_is_refused_before_it_is_parsed() -> None:
    body = b"[" * 5000  # would be refused as invalid JSON if it were parsed
    error = refusal(body, max_bytes=4999)
    assert error.reason == "message is 5000 bytes, over the limit of 4999"
    assert parse_json(document(), max_bytes=len(document())).identifier


def test_cap_defaults_fill_what_a_minimal_document_leaves_out() -> None:
    minimal = {
        "identifier": "44152341600000_20260720020000",
        "sender": "44152341600000",
        "sent": "2026-07-20T02:00:00+08:00",
        "infos": [
            {"event": "暴雨红色预警", "areas": [{"description": "陆河县", "geocodes": ["441523"]}]}
        ],
    }
    warning = parse_json(json.dumps(minimal).encode())
    info = warning.infos[0]
    assert (warning.status, warning.msg_type, warning.scope) == (
        Status.ACTUAL,
        MsgType.ALERT,
        Scope.PUBLIC,
    )
    assert (info.language, info.urgency, info.severity, info.certainty) == (
        "en-US",
        "Unknown",
        "Unknown",
        "Unknown",
    )
    assert (info.level, info.categories, info.expires) == (Level.RED, (), None)


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        pytest.param([((*I0, "level"), "蓝色")], Level.BLUE, id="stated level beats parameter"),
        pytest.param([((*I0, "level"), "03")], Level.ORANGE, id="stated code"),
        pytest.param([((*I0, "level"), None)], Level.RED, id="null level: parameter"),
        pytest.param(
            [((*I0, "level"), DELETE), ((*I0, "parameters"), {"alertLevel": "Ⅳ级"})],
            Level.BLUE,
            id="parameter",
        ),
        pytest.param(
            [((*I0, "level"), DELETE), ((*I0, "parameters"), {}), ((*I0, "event"), "暴雨黄色预警")],
            Level.YELLOW,
            id="event colour",
        ),
        pytest.param(
            [((*I0, "level"), DELETE), ((*I0, "parameters"), {}), ((*I0, "severity"), "severe")],
            Level.ORANGE,
            id="severity in any case",
        ),
    ],
)
def test_the_level_follows_the_same_priority_as_cap(
    changes: list[tuple[tuple[str | int, ...], object]], level: Level
) -> None:
    assert parse_json(document(*changes)).infos[0].level is level


def test_parameters_whose_names_repeat_are_given_as_pairs() -> None:
    pairs = [["预警类型", "暴雨"], ["预警类型", "雷电"], ["预警级别", "橙色"]]
    info = parse_json(document(((*I0, "parameters"), pairs), ((*I0, "level"), None))).infos[0]
    assert info.parameters == (("预警类型", "暴雨"), ("预警类型", "雷电"), ("预警级别", "橙色"))
    assert info.level is Level.ORANGE


def test_a_parameter_pair_must_be_a_pair() -> None:
    error = refusal(document(((*I0, "parameters"), [["预警级别"]])))
    assert (error.path, error.reason) == ("infos[0].parameters[0][1]", "required field is missing")


def test_a_bom_and_lowercase_enums_are_accepted() -> None:
    body = b"\xef\xbb\xbf" + document((("status",), "exercise"), (("scope",), "public"))
    warning = parse_json(body)
    assert (warning.status, warning.scope, warning.drill) == (Status.EXERCISE, Scope.PUBLIC, True)


def test_an_area_may_be_placed_by_another_scheme_or_by_its_description_alone() -> None:
    # The roster's area aliases place such areas; without one, planning refuses them.
    ugc = [{"value_name": "UGC", "value": "TXC201"}]
    coded = parse_json(document(((*A0, "geocodes"), []), ((*A0, "other_geocodes"), ugc)))
    described = parse_json(document(((*A0, "geocodes"), [])))

    assert coded.primary.areas[0].geocodes == ()
    assert coded.primary.areas[0].other_geocodes == (("UGC", "TXC201"),)
    assert described.primary.areas[0].other_geocodes == ()
    assert described.primary.areas[0].description


def test_a_cancel_may_carry_no_info() -> None:
    body = document((("msg_type",), "Cancel"), (("references",), [REFERENCE]), (("infos",), []))
    warning = parse_json(body)
    assert (warning.msg_type, warning.infos, warning.level) == (MsgType.CANCEL, (), None)
    assert [(ref.sender, ref.identifier, ref.sent) for ref in warning.references] == [
        ("44152341600000", "44152341600000_20260720020000", T0)
    ]


def test_the_blue_gale_example() -> None:
    warning = parse_json(EXAMPLE.read_bytes())
    info = warning.primary
    sent = datetime(2026, 7, 21, 10, 0, tzinfo=BEIJING)
    assert (warning.identifier, warning.sent, warning.level) == (
        "44152341600000_20260721100000",
        sent,
        Level.BLUE,
    )
    assert (info.event, info.expires, info.language) == (
        "大风蓝色预警",
        sent + timedelta(days=1),
        "zh-CN",
    )
    (area,) = warning.areas
    assert area.circles == (Circle(Point(23.302, 115.657), 15.0),)
    assert area.geocodes == () and area.polygons == ()


# Property tests: whatever arrives, the only failure is InvalidWarning.

VALID = [EXAMPLE.read_bytes(), document()]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


def parses_or_refuses(body: bytes) -> None:
    with contextlib.suppress(InvalidWarning):
        parse_json(body)


@settings(deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_ever_raise_invalid_warning(body: bytes) -> None:
    parses_or_refuses(body)


@settings(deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    st.integers(min_value=0),
    st.booleans(),
)
def test_mutated_documents_only_ever_raise_invalid_warning(
    body: bytes, flips: list[tuple[int, int]], cut: int, truncate: bool
) -> None:
    mutated = bytearray(body)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    parses_or_refuses(bytes(mutated[: cut % len(mutated)] if truncate else mutated))


@settings(deadline=None)
@given(st.sampled_from(json_paths(BASE)), JSON_VALUES)
def test_any_value_anywhere_only_ever_raises_invalid_warning(
    path: tuple[str | int, ...], value: object
) -> None:
    parses_or_refuses(document((path, value)))


def test_every_defect_is_reported_with_its_path_not_only_the_first() -> None:
    error = refusal(
        document(
            (("sent",), "2026-07-20 02:00"),
            (("status",), "Real"),
            ((*I0, "urgency"), "Now"),
            ((*POLYGON, -1), [1.0, 1.0]),
        )
    )
    assert [problem.path for problem in error.problems] == [
        "sent",
        "status",
        "infos[0].urgency",
        "infos[0].areas[1].polygons[0]",
    ]
    assert "polygon is not closed" in error.problems[3].reason
    assert error.reason.startswith("4 problems:\nsent: ")
