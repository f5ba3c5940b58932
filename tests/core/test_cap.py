"""CAP XML parsing: what is accepted, what is refused (with which reason, where)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.core.area import resolve
from dispatcher.core.cap import parse_cap
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.model import Circle, Level, MsgType, Point, Polygon, Scope, Status, Warning
from dispatcher.files.roster_dir import load_roster

EXAMPLES = Path(__file__).parents[2] / "examples" / "warnings"
BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 7, 20, 2, 0, tzinfo=BEIJING)
CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"

BASE = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP12}">
  <identifier>44152341600000_20260720020000</identifier>
  <sender>44152341600000</sender>
  <sent>2026-07-20T02:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨预警</event>
    <responseType>Shelter</responseType>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Likely</certainty>
    <expires>2026-07-20T08:00:00+08:00</expires>
    <headline>陆河县发布暴雨预警</headline>
    <parameter><valueName>预警级别</valueName><value>红色</value></parameter>
    <area>
      <areaDesc>河田镇</areaDesc>
      <geocode><valueName>ADCODE</valueName><value>441523100</value></geocode>
    </area>
    <area>
      <areaDesc>螺溪河沿岸</areaDesc>
      <polygon>23.425,115.545 23.425,115.590 23.395,115.590 23.425,115.545</polygon>
      <circle>23.302,115.657 15</circle>
    </area>
  </info>
</alert>
"""
REFERENCE = "44152341600000,44152341600000_20260720020000,2026-07-20T02:00:00+08:00"
SECOND_INFO = """<info>
    <event>Rainstorm</event><urgency>Immediate</urgency><severity>Severe</severity>
    <certainty>Likely</certainty><area><areaDesc>Hetian</areaDesc><polygon>{polygon}</polygon></area>
  </info>
</alert>"""


def cap(*replacements: tuple[str, str]) -> bytes:
    """BASE with each (old, new) replaced once; a missing `old` is a bug in the test."""
    text = BASE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode()


def refusal(body: bytes, **kwargs: int) -> InvalidWarning:
    with pytest.raises(InvalidWarning) as caught:
        parse_cap(body, **kwargs)
    return caught.value


def test_the_base_document_parses_with_every_part() -> None:
    warning = parse_cap(cap())
    info = warning.infos[0]
    assert (warning.identifier, warning.sender, warning.sent) == (
        "44152341600000_20260720020000",
        "44152341600000",
        T0,
    )
    assert (warning.status, warning.msg_type, warning.scope) == (
        Status.ACTUAL,
        MsgType.ALERT,
        Scope.PUBLIC,
    )
    assert (info.language, info.level, info.expires) == (
        "zh-CN",
        Level.RED,
        T0 + timedelta(hours=6),
    )
    assert info.parameters == (("预警级别", "红色"),)
    assert info.areas[0].geocodes == ("441523100",)
    assert info.areas[1].polygons[0].points[0] == Point(23.425, 115.545)
    assert info.areas[1].circles == (Circle(Point(23.302, 115.657), 15.0),)


REJECTIONS = [
    pytest.param(
        [("<identifier>44152341600000_20260720020000</identifier>", "")],
        "<identifier> is missing",
        "alert",
        id="identifier missing",
    ),
    pytest.param(
        [("44152341600000_20260720020000</identifier>", "</identifier>")],
        "<identifier> is empty",
        "alert/identifier",
        id="identifier empty",
    ),
    pytest.param(
        [("_20260720020000</identifier>", " 20260720020000</identifier>")],
        "contains a space, comma, '<' or '&'",
        "alert/identifier",
        id="identifier has a space",
    ),
    pytest.param(
        [("_20260720020000</identifier>", ",1</identifier>")],
        "contains a space, comma",
        "alert/identifier",
        id="identifier has a comma",
    ),
    pytest.param(
        [("_20260720020000</identifier>", "&amp;1</identifier>")],
        "contains a space, comma",
        "alert/identifier",
        id="identifier has &",
    ),
    pytest.param(
        [("</sender>", "&lt;x</sender>")],
        "contains a space, comma",
        "alert/sender",
        id="sender has <",
    ),
    pytest.param(
        [("<sender>", "<identifier>x</identifier><sender>")],
        "<identifier> appears 2 times",
        "alert/identifier",
        id="identifier twice",
    ),
    pytest.param(
        [("<sent>2026-07-20T02:00:00+08:00", "<sent>2026-07-20T02:00:00")],
        "has no UTC offset",
        "alert/sent",
        id="sent without offset",
    ),
    pytest.param(
        [("<sent>2026-07-20T02:00:00+08:00", "<sent>2026/07/20 02:00")],
        "is not a date-time like 2026-07-20T02:00:00+08:00",
        "alert/sent",
        id="sent in another form",
    ),
    pytest.param(
        [("<sent>2026-07-20", "<sent>2026-13-20")],
        "is not a valid date-time",
        "alert/sent",
        id="sent impossible",
    ),
    pytest.param(
        [("<status>Actual", "<status>Real")],
        "status 'Real' is not one of Actual, Exercise, System, Test, Draft",
        "alert/status",
        id="status unknown",
    ),
    pytest.param(
        [("<msgType>Alert", "<msgType>Ack")],
        "msgType Ack is not accepted",
        "alert/msgType",
        id="msgType Ack",
    ),
    pytest.param(
        [("<msgType>Alert", "<msgType>Error")],
        "msgType Error is not accepted",
        "alert/msgType",
        id="msgType Error",
    ),
    pytest.param(
        [("<msgType>Alert", "<msgType>Notice")],
        "msgType 'Notice' is not one of Alert, Update, Cancel",
        "alert/msgType",
        id="msgType unknown",
    ),
    pytest.param(
        [("<scope>Public</scope>", "")],
        "<scope> is missing",
        "alert",
        id="scope missing",
    ),
    pytest.param(
        [("<scope>Public", "<scope>Everyone")],
        "scope 'Everyone' is not one of Public, Restricted, Private",
        "alert/scope",
        id="scope unknown",
    ),
    pytest.param(
        [("<info>", f"<references>{REFERENCE}</references><info>")],
        "references are not allowed on an Alert",
        "alert/references",
        id="Alert with references",
    ),
    pytest.param(
        [("<msgType>Alert", "<msgType>Update")],
        "an Update must reference the message(s) it replaces",
        "alert/references",
        id="Update without references",
    ),
    pytest.param(
        [("<msgType>Alert", "<msgType>Cancel")],
        "a Cancel must reference the message(s) it replaces",
        "alert/references",
        id="Cancel without references",
    ),
    pytest.param(
        [
            ("<msgType>Alert", "<msgType>Update"),
            ("<info>", f"<references>{REFERENCE} a,b</references><info>"),
        ],
        "reference 2 ('a,b') is not a sender,identifier,sent triple",
        "alert/references",
        id="reference not a triple",
    ),
    pytest.param(
        [
            ("<msgType>Alert", "<msgType>Update"),
            ("<info>", "<references>s,i,2026-07-20T02:00:00</references><info>"),
        ],
        "reference 1: '2026-07-20T02:00:00' has no UTC offset",
        "alert/references",
        id="reference sent naive",
    ),
    pytest.param(
        [("<info>", "<!--"), ("</info>", "-->")],
        "an Alert needs at least one <info>",
        "alert",
        id="Alert without info",
    ),
    pytest.param(
        [
            (
                "<area>",
                "<!--",
            ),
            ("</area>\n  </info>", "</area>-->\n  </info>"),
        ],
        "an Alert needs at least one area: nobody to warn",
        "alert",
        id="Alert without any area",
    ),
    pytest.param(
        [("<event>暴雨预警</event>", "")],
        "<event> is missing",
        "alert/info[0]",
        id="event missing",
    ),
    pytest.param(
        [("<urgency>Immediate", "<urgency>Now")],
        "urgency 'Now' is not one of Immediate, Expected, Future, Past, Unknown",
        "alert/info[0]/urgency",
        id="urgency unknown",
    ),
    pytest.param(
        [("<severity>Extreme", "<severity>Huge")],
        "severity 'Huge' is not one of Extreme, Severe, Moderate, Minor, Unknown",
        "alert/info[0]/severity",
        id="severity unknown",
    ),
    pytest.param(
        [("<certainty>Likely", "<certainty>Sure")],
        "certainty 'Sure' is not one of Observed",
        "alert/info[0]/certainty",
        id="certainty unknown",
    ),
    pytest.param(
        [("<responseType>Shelter", "<responseType>Run")],
        "responseType 'Run' is not one of Shelter",
        "alert/info[0]/responseType[0]",
        id="responseType unknown",
    ),
    pytest.param(
        [("<expires>2026-07-20T08:00:00+08:00", "<expires>2026-07-20T08:00:00")],
        "has no UTC offset",
        "alert/info[0]/expires",
        id="expires without offset",
    ),
    pytest.param(
        [("<valueName>预警级别</valueName>", "")],
        "<valueName> is missing",
        "alert/info[0]/parameter[0]",
        id="parameter without valueName",
    ),
    pytest.param(
        [("<areaDesc>河田镇</areaDesc>", "")],
        "<areaDesc> is missing",
        "alert/info[0]/area[0]",
        id="areaDesc missing",
    ),
    pytest.param(
        [("23.395,115.590 23.425,115.545<", "23.425,115.545<")],
        "polygon has 3 points; at least 4 are required",
        "alert/info[0]/area[1]/polygon[0]",
        id="polygon too short",
    ),
    pytest.param(
        [("23.395,115.590 23.425,115.545<", "23.395,115.590 23.395,115.545<")],
        "polygon is not closed",
        "alert/info[0]/area[1]/polygon[0]",
        id="polygon not closed",
    ),
    pytest.param(
        [("23.395,115.590 ", "91,115.590 ")],
        "latitude 91.0 is outside [-90, 90]",
        "alert/info[0]/area[1]/polygon[0]",
        id="polygon latitude out of range",
    ),
    pytest.param(
        [("23.395,115.590 ", "23.395,181 ")],
        "longitude 181.0 is outside [-180, 180]",
        "alert/info[0]/area[1]/polygon[0]",
        id="polygon longitude out of range",
    ),
    pytest.param(
        [("23.395,115.590 ", "23.395;115.590 ")],
        "'23.395;115.590' is not a 'lat,lon' pair",
        "alert/info[0]/area[1]/polygon[0]",
        id="polygon pair malformed",
    ),
    pytest.param(
        [("23.395,115.590 ", "nan,115.590 ")],
        "'nan,115.590' is not a 'lat,lon' pair",
        "alert/info[0]/area[1]/polygon[0]",
        id="polygon pair not a number",
    ),
    pytest.param(
        [("23.302,115.657 15", "23.302,115.657")],
        "is not 'lat,lon radius_km'",
        "alert/info[0]/area[1]/circle[0]",
        id="circle without radius",
    ),
    pytest.param(
        [("23.302,115.657 15", "23.302,115.657 0")],
        "circle radius 0.0 km is not a positive number",
        "alert/info[0]/area[1]/circle[0]",
        id="circle radius zero",
    ),
    pytest.param(
        [("23.302,115.657 15", "23.302,115.657 -5")],
        "circle radius -5.0 km is not a positive number",
        "alert/info[0]/area[1]/circle[0]",
        id="circle radius negative",
    ),
    pytest.param(
        [("23.302,115.657 15", "95,115.657 15")],
        "latitude 95.0 is outside",
        "alert/info[0]/area[1]/circle[0]",
        id="circle centre out of range",
    ),
    pytest.param(
        [("</info>\n</alert>", "</info>\n  " + SECOND_INFO.format(polygon="1,2 3,4 1,2"))],
        "polygon has 3 points",
        "alert/info[1]/area[0]/polygon[0]",
        id="second info's polygon",
    ),
]


@pytest.mark.parametrize(
    ("replacement", "kept"),
    [
        ("<valueName>SAME</valueName><value>006113", ("SAME", "006113")),
        ("<valueName>ADCODE</valueName><value>44152310", ("ADCODE", "44152310")),
        ("<valueName>postcode</valueName><value>516700", ("postcode", "516700")),
    ],
)
def test_an_area_placed_by_another_scheme_is_read_and_its_codes_kept(
    replacement: str, kept: tuple[str, str]
) -> None:
    warning = parse_cap(cap(("<valueName>ADCODE</valueName><value>441523100", replacement)))

    area = warning.primary.areas[0]
    assert (area.geocodes, area.other_geocodes) == ((), (kept,))
    # Only a roster's area aliases could place it; the example roster has none for it.
    resolution = resolve(warning.areas, load_roster(EXAMPLES.parent / "roster"))
    assert resolution.unmatched == ("河田镇",)
    assert resolution.grids, "the other area, a polygon, still places the warning"


@pytest.mark.parametrize(("replacements", "reason", "path"), REJECTIONS)
def test_a_broken_rule_is_refused_with_its_reason_and_path(
    replacements: list[tuple[str, str]], reason: str, path: str
) -> None:
    error = refusal(cap(*replacements))
    assert reason in error.reason
    assert error.path == path


@pytest.mark.parametrize(
    ("body", "reason", "path"),
    [
        pytest.param(b"", "not well-formed XML", "", id="empty"),
        pytest.param(cap()[:500], "not well-formed XML", "", id="truncated"),
        pytest.param(
            "<alert><event>é</event></alert>".encode("latin-1"),
            "not well-formed XML",
            "",
            id="latin-1 bytes without a declaration",
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="x-nope"?><alert/>',
            "cannot read the XML: unknown encoding",
            "",
            id="unknown encoding",
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="GBK"?><alert>\x81</alert>',
            "body is not valid GBK",
            "",
            id="broken GBK",
        ),
        pytest.param(b"<feed><entry/></feed>", "root element is <feed>", "feed", id="not CAP"),
        pytest.param(
            b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.0"/>',
            "is not CAP 1.1 or 1.2",
            "alert",
            id="CAP 1.0",
        ),
        pytest.param(b"\x00\xff\xfe", "not well-formed XML", "", id="binary"),
    ],
)
def test_unreadable_bodies_are_refused(body: bytes, reason: str, path: str) -> None:
    error = refusal(body)
    assert reason in error.reason
    assert error.path == path


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE alert [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol4;</identifier></alert>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>
"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion laughs", "XXE"])
def test_dtds_and_entities_are_refused(body: bytes) -> None:
    error = refusal(body)
    assert "document type declarations (DTD) are refused" in error.reason
    assert "root:" not in str(error)  # nothing of /etc/passwd leaks into the reason


def test_an_oversize_body_is_refused_before_it_is_parsed() -> None:
    # A hostile body that the parser would refuse for its DTD: the size reason shows it
    # never got that far.
    body = BILLION_LAUGHS + b" " * 1000
    error = refusal(body, max_bytes=len(body) - 1)
    assert error.reason == f"message is {len(body)} bytes, over the limit of {len(body) - 1}"
    assert parse_cap(cap(), max_bytes=len(cap())).identifier  # the limit itself is allowed


@pytest.mark.parametrize(
    ("replacements", "check"),
    [
        pytest.param(
            [(CAP12, "urn:oasis:names:tc:emergency:cap:1.1")],
            lambda w: w.identifier == "44152341600000_20260720020000",
            id="CAP 1.1 namespace",
        ),
        pytest.param(
            [(f' xmlns="{CAP12}"', "")], lambda w: w.infos[0].level is Level.RED, id="no namespace"
        ),
        pytest.param(
            [("<sent>2026-07-20T02:00:00+08:00", "<sent>2026-07-19T18:00:00Z")],
            lambda w: w.sent == T0 and w.sent.utcoffset() == timedelta(0),
            id="Z offset",
        ),
        pytest.param(
            [("<sent>2026-07-20T02:00:00+08:00", "<sent>2026-07-20T02:00:00-00:00")],
            lambda w: w.sent == datetime(2026, 7, 20, 2, 0, tzinfo=UTC),
            id="-00:00 offset",
        ),
        pytest.param(
            [("<sent>2026-07-20T02:00:00+08:00", "<sent>2026-07-20T02:00:00.250+08:00")],
            lambda w: w.sent == T0 + timedelta(milliseconds=250),
            id="fractional seconds",
        ),
        pytest.param(
            [("<status>Actual", "<status>exercise"), ("<severity>Extreme", "<severity>EXTREME")],
            lambda w: w.drill and w.infos[0].severity == "Extreme",
            id="enums in any case",
        ),
        pytest.param(
            [("<language>zh-CN</language>", "")],
            lambda w: w.infos[0].language == "en-US",
            id="default language",
        ),
        pytest.param(
            [
                (
                    "<geocode>",
                    "<geocode><valueName>SAME</valueName><value>006113</value></geocode>"
                    "<geocode><valueName>FIPS6</valueName><value>441523</value></geocode>"
                    "<geocode><valueName>行政区划代码</valueName><value> 441523 </value></geocode>"
                    "<geocode><valueName>GB2260</valueName><value>441523100201</value></geocode>"
                    "<geocode><valueName>admin_code</valueName><value>4415231002</value></geocode>"
                    "<geocode><valueName>ADCODE</valueName><value>441523100</value></geocode>"
                    "<geocode>",
                )
            ],
            lambda w: w.infos[0].areas[0].geocodes == ("441523", "441523100201", "441523100"),
            id="only division codes are kept, once each",
        ),
        pytest.param(
            [
                ("<msgType>Alert", "<msgType>Cancel"),
                ("<info>", f"<references>{REFERENCE}</references><!--"),
                ("</info>", "-->"),
            ],
            lambda w: w.infos == () and w.level is None and len(w.references) == 1,
            id="Cancel without info",
        ),
        pytest.param(
            [
                ("<msgType>Alert", "<msgType>Cancel"),
                ("<info>", f"<references>{REFERENCE}</references><info>"),
                ("<parameter><valueName>预警级别</valueName><value>红色</value></parameter>", ""),
                ("<severity>Extreme", "<severity>Unknown"),
                ("<value>441523100<", "<value>x<"),
            ],
            lambda w: w.level is None and w.infos[0].areas[0].geocodes == (),
            id="Cancel without level or codes",
        ),
        pytest.param(
            [("<event>暴雨预警</event>", "<event>暴雨预警</event><foo:bar xmlns:foo='urn:x'/>")],
            lambda w: w.infos[0].event == "暴雨预警",
            id="foreign elements are ignored",
        ),
    ],
)
def test_accepted_variants(
    replacements: list[tuple[str, str]], check: Callable[[Warning], bool]
) -> None:
    assert check(parse_cap(cap(*replacements)))


def test_a_gb2312_body_is_read() -> None:
    body = BASE.replace('encoding="UTF-8"', 'encoding="GB2312"').encode("gb2312")
    assert parse_cap(body).infos[0].areas[0].description == "河田镇"


def example(name: str) -> Warning:
    return parse_cap((EXAMPLES / name).read_bytes())


def test_the_red_rainstorm_example() -> None:
    warning = example("red-rainstorm.xml")
    info = warning.primary
    assert warning.key == ("44152341600000", "44152341600000_20260720020000", T0)
    assert (warning.msg_type, warning.drill, warning.level) == (MsgType.ALERT, False, Level.RED)
    assert (info.severity, info.expires) == ("Extreme", T0 + timedelta(hours=6))
    assert [area.geocodes for area in warning.areas] == [("441523100",), ("441523101",)]
    assert "叫应" in info.instruction


def test_the_update_supersedes_the_alert_and_extends_it() -> None:
    alert, update = example("red-rainstorm.xml"), example("red-rainstorm-update.xml")
    assert update.msg_type is MsgType.UPDATE
    assert [(ref.sender, ref.identifier, ref.sent) for ref in update.references] == [alert.key]
    assert update.level is Level.RED
    assert alert.expires is not None and update.expires is not None
    assert update.expires - alert.expires == timedelta(hours=3)


def test_the_cancel_references_the_alert_and_the_update() -> None:
    cancel = example("red-rainstorm-cancel.xml")
    keys = [example(name).key for name in ("red-rainstorm.xml", "red-rainstorm-update.xml")]
    assert cancel.msg_type is MsgType.CANCEL
    assert [(ref.sender, ref.identifier, ref.sent) for ref in cancel.references] == keys
    assert cancel.all_clear


def test_the_drill_example_is_a_drill_with_one_polygon() -> None:
    drill = example("drill-flash-flood.xml")
    assert (drill.status, drill.drill, drill.level) == (Status.EXERCISE, True, Level.ORANGE)
    (area,) = drill.areas
    assert area.geocodes == () and area.circles == ()
    assert area.polygons == (
        Polygon(
            tuple(
                Point(lat, lon)
                for lat, lon in [
                    (23.425, 115.545),
                    (23.425, 115.590),
                    (23.395, 115.590),
                    (23.395, 115.545),
                    (23.425, 115.545),
                ]
            )
        ),
    )


# Property tests: whatever arrives, the only failure is InvalidWarning.

VALID = [path.read_bytes() for path in sorted(EXAMPLES.glob("*.xml"))] + [cap()]


def parses_or_refuses(body: bytes) -> None:
    with contextlib.suppress(InvalidWarning):
        parse_cap(body)


@settings(deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_ever_raise_invalid_warning(body: bytes) -> None:
    parses_or_refuses(body)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
@given(st.sampled_from(VALID), st.data())
def test_any_text_in_any_element_only_ever_raises_invalid_warning(
    body: bytes, data: st.DataObject
) -> None:
    text = body.decode()
    starts = [i for i, char in enumerate(text) if char == ">" and text[i + 1 : i + 2] != "\n"]
    start = data.draw(st.sampled_from(starts)) + 1
    end = text.index("<", start)
    value = data.draw(st.text(st.characters(blacklist_categories=("Cs", "Cc"))))
    escaped = value.replace("&", "&amp;").replace("<", "&lt;")
    parses_or_refuses((text[:start] + escaped + text[end:]).encode())


def test_whitespace_before_the_declaration_is_tolerated() -> None:
    assert parse_cap(b"\r\n  " + cap()).identifier == "44152341600000_20260720020000"


def test_an_identifier_longer_than_the_store_keeps_is_refused_with_a_reason() -> None:
    body = (EXAMPLES / "red-rainstorm.xml").read_bytes()
    long_id = "4" * 256
    with pytest.raises(InvalidWarning) as caught:
        parse_cap(body.replace(b"44152341600000_20260720020000", long_id.encode(), 1))
    assert "longer than 255" in caught.value.reason
