"""CAP from the wider world: feeds written by other countries' alert systems, as they are.

The fixtures under tests/data/cap/ keep their producers' shapes: a US National Weather
Service CAP 1.2 Flash Flood Warning and an Air Quality Alert (severity Unknown, zones
only), an NWS CAP 1.1 Severe Thunderstorm Warning (1.1 namespace, stylesheet and
comments before the root), a MeteoAlarm warning in German and English with EMMA_ID
zones, an IPAWS Ack, a Chinese bureau's warning that states no level, and a broken
export with five defects in five elements.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from dispatcher.cli import main
from dispatcher.core.blockers import preview_plan, review
from dispatcher.core.cap import parse_cap, read_cap
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.model import Level, MsgType
from dispatcher.core.policy import parse_policy
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster

ROOT = Path(__file__).resolve().parents[2]
FEEDS = ROOT / "tests/data/cap"
EXAMPLES = ROOT / "examples"
POLICY = load_policy(EXAMPLES / "policy.yaml")
WITH_DEFAULT = parse_policy(
    "default_level: yellow\n" + (EXAMPLES / "policy.yaml").read_text(encoding="utf-8")
)
ROSTER = load_roster(EXAMPLES / "roster")


def feed(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def test_an_nws_cap12_flash_flood_warning_is_read_whole() -> None:
    warning = parse_cap(feed("nws-flash-flood-warning.xml"))
    info = warning.primary
    assert warning.sender == "w-nws.webmaster@noaa.gov"
    assert (info.event, info.severity, info.level) == (
        "Flash Flood Warning",
        "Severe",
        Level.ORANGE,
    )
    area = info.areas[0]
    assert area.description == "Fort Bend, TX; Harris, TX"
    assert len(area.polygons[0].points) == 6
    assert area.geocodes == (), "a SAME code (048201) is not a Chinese county code"
    assert "Turn around, don't drown" in info.instruction
    assert (
        review(read_cap(feed("nws-flash-flood-warning.xml")), POLICY, warning.sent).blockers == ()
    )


def test_a_cap11_document_is_read_as_cap12() -> None:
    warning = parse_cap(feed("nws-severe-thunderstorm-cap11.xml"))
    info = warning.primary
    assert warning.msg_type is MsgType.ALERT
    assert warning.note.startswith("Alert for Cleveland; McClain")
    assert (info.event, info.level) == ("Severe Thunderstorm Warning", Level.ORANGE)
    assert info.language == "en-US", "CAP's default language"
    assert info.areas[0].circles[0].radius_km == 8.5
    assert info.areas[0].geocodes == (), "FIPS6 040027 is not a division code"


def test_a_meteoalarm_warning_speaks_english_and_names_its_zones() -> None:
    reading = read_cap(feed("meteoalarm-at-thunderstorm.xml"))
    warning = reading.warning
    assert warning is not None and not reading.defects
    assert [info.language for info in warning.infos] == ["de-DE", "en-GB"]
    assert warning.primary.event == "Thunderstorm", "English before the country's language"
    assert warning.level is Level.YELLOW
    assert [area.description for area in warning.primary.areas] == ["Vienna", "Lower Austria"]
    found = review(reading, POLICY, warning.sent)
    zones = ["EMMA_ID AT009, NUTS2 AT13", "EMMA_ID AT003, NUTS2 AT12"]
    assert found.blockers == tuple(
        f"alert/info[{i}]/area[{a}]: area has no administrative code, polygon or circle; "
        f"only a roster's area_aliases can place it ({zones[a]})"
        for i in (0, 1)
        for a in (0, 1)
    )
    # Read whole, its zones kept: only a roster with aliases for them could place it.
    assert parse_cap(feed("meteoalarm-at-thunderstorm.xml")).primary.areas[0].other_geocodes == (
        ("EMMA_ID", "AT009"),
        ("NUTS2", "AT13"),
    )


def test_severity_unknown_takes_the_policys_default_level_or_says_why_not() -> None:
    reading = read_cap(feed("nws-air-quality-alert.xml"))
    warning = reading.warning
    assert warning is not None and warning.level is None
    without = review(reading, POLICY, warning.sent)
    assert without.warning.level is None
    assert (
        "alert/info[0]/severity: cannot tell the warning level: severity Unknown, no level "
        "parameter and no colour word in the event or headline, and the policy names no "
        "default_level" in "\n".join(without.blockers)
    )
    with_default = review(reading, WITH_DEFAULT, warning.sent)
    assert with_default.warning.level is Level.YELLOW
    assert with_default.level_from_default
    assert not any("severity" in blocker for blocker in with_default.blockers)
    assert any("area has no administrative code" in b for b in with_default.blockers)


def test_a_chinese_warning_without_a_level_plans_at_the_default_level() -> None:
    reading = read_cap(feed("geohazard-unknown-severity.xml"))
    warning = reading.warning
    assert warning is not None and not reading.problems
    found = review(reading, WITH_DEFAULT, warning.sent)
    assert found.blockers == ()
    plan = preview_plan(found, ROSTER, WITH_DEFAULT)
    assert plan["level"] == "yellow"
    assert plan["recipients"]
    assert review(reading, POLICY, warning.sent).blockers[0].startswith("alert/info[0]/severity")


def test_an_ack_is_shown_and_said_not_to_be_a_warning() -> None:
    reading = read_cap(feed("nws-ack.xml"))
    assert reading.warning is not None and not reading.defects
    assert reading.warning.msg_type is MsgType.ACK
    found = review(reading, POLICY, reading.warning.sent)
    assert found.blockers == (
        "alert/msgType: msgType Ack is not accepted: it answers a message, it is not a "
        "warning (jiaoying acts on Alert, Update and Cancel)",
    )


def test_an_expired_warning_says_so() -> None:
    reading = read_cap(feed("nws-flash-flood-warning.xml"))
    assert reading.warning is not None and reading.warning.expires is not None
    later = reading.warning.expires + timedelta(minutes=1)
    assert review(reading, POLICY, later).blockers == (
        "expires 2026-07-20T08:00:00-05:00: already expired, nobody would be called",
    )


FIVE_DEFECTS = [
    ("alert/sent", "'2026-07-20T04:00:00' has no UTC offset"),
    ("alert/status", "status 'Real' is not one of Actual, Exercise, System, Test, Draft"),
    ("alert/info[0]/urgency", "urgency 'Now' is not one of Immediate"),
    ("alert/info[1]/area[0]/polygon[0]", "polygon is not closed"),
    ("alert/info[1]/area[1]/circle[0]", "circle radius -5.0 km is not a positive number"),
]


def test_a_broken_document_is_refused_with_all_five_defects_and_their_paths() -> None:
    with pytest.raises(InvalidWarning) as refused:
        parse_cap(feed("broken-five-defects.xml"))
    problems = refused.value.problems
    assert [problem.path for problem in problems] == [path for path, _ in FIVE_DEFECTS]
    for problem, (_, reason) in zip(problems, FIVE_DEFECTS, strict=True):
        assert reason in problem.reason
    assert refused.value.reason.startswith("5 problems:\n")
    assert refused.value.path == "alert/sent"


def test_parse_lists_every_defect_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(FEEDS / "broken-five-defects.xml")]) == 1
    err = capsys.readouterr().err
    for path, reason in FIVE_DEFECTS:
        assert f"{path}: {reason}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("nws-flash-flood-warning.xml", ["Flash Flood Warning", "橙色 orange", "Fort Bend, TX"]),
        ("nws-severe-thunderstorm-cap11.xml", ["Severe Thunderstorm Warning", "1 circle"]),
        ("meteoalarm-at-thunderstorm.xml", ["Thunderstorm", "de-DE, en-GB", "Vienna"]),
        ("nws-air-quality-alert.xml", ["Air Quality Alert", "policy names no default_level"]),
        ("nws-ack.xml", ["CAP Ack", "msgType Ack is not accepted", "离线未查询"]),
    ],
)
def test_parse_shows_any_readable_feed_with_what_would_stop_it(
    name: str, shown: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(FEEDS / name), "--policy", str(EXAMPLES / "policy.yaml")]) == 0
    out = capsys.readouterr().out
    for text in shown:
        assert text in out, out
    assert "不会发出 would not be dispatched" in out  # all of these are in the past, too


def test_parse_json_lists_the_blockers(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["parse", str(FEEDS / "meteoalarm-at-thunderstorm.xml"), "--json"]
    assert main([*args, "--policy", str(EXAMPLES / "policy.yaml")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["warning"]["infos"][1]["language"] == "en-GB"
    assert len(data["blockers"]) == 5


def test_parse_with_a_roster_of_an_update_shows_who_would_be_told(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["parse", str(EXAMPLES / "warnings/red-rainstorm-update.xml")]
    args += ["--roster", str(EXAMPLES / "roster"), "--policy", str(EXAMPLES / "policy.yaml")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "引用 references 44152341600000,44152341600000_20260720020000,2026-07-20T02:00:00+08:00"
        "（离线未查询 not looked up offline）" in out
    )
    assert "会告知 would tell 18 人" in out
    assert "黄伟明" in out and "138****0001" in out
    assert "13800130001" not in out

    cancel = ["parse", str(EXAMPLES / "warnings/red-rainstorm-cancel.xml"), "--json"]
    assert main([*cancel, "--roster", str(EXAMPLES / "roster")]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["msg_type"] == "Cancel"
    assert (
        "44152341600000,44152341600000_20260720020000,2026-07-20T02:00:00+08:00"
        in plan["references_not_looked_up"]
    )
