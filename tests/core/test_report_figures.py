"""The report's judgement of a warning's records, as tables of fixed records and clocks:
when a grid settled and whether it kept the promise, what the map shows of it, why a
person was never reached, what each channel achieved; the map's plane and grids.geojson."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from dispatcher.core.errors import RosterError
from dispatcher.core.model import Level
from dispatcher.core.policy import policy_from_data
from dispatcher.files.grid_shapes import load_grid_shapes, shapes_from_data
from dispatcher.files.roster_dir import load_roster
from dispatcher.report.figures import GridFigures, GridState, Verdict, grid_figures, totals
from dispatcher.report.map import grid_map
from dispatcher.report.pages import duration
from dispatcher.report.reach import Why, channel_rates, escalation_levels, never_reached
from dispatcher.report.records import (
    AnswerRecord,
    EscalationRecord,
    RecipientRecord,
    Records,
    SendRecord,
    TaskRecord,
    WarningRecord,
)

ROOT = Path(__file__).resolve().parents[2]
ROSTER = load_roster(ROOT / "examples/roster")
START = datetime(2026, 7, 19, 18, 0, tzinfo=UTC)
PROMISE = timedelta(minutes=10)
ONE, TWO = "441523100001001", "441523100001002"  # 人民社区: 001, 002 in ONE; 003 in TWO


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def records(
    *,
    answered: dict[str, float] | None = None,
    escalated: tuple[str, ...] = (),
    tasks: tuple[tuple[str, float, str], ...] = (),
    sends: tuple[SendRecord, ...] = (),
    answers: tuple[AnswerRecord, ...] | None = None,
) -> Records:
    """Persons LH-WG-001..003 of 人民社区; `answered`: person → minute their chain closed
    (by their own SMS unless `answers` says how)."""
    answered = answered or {}
    people = [("LH-WG-001", ONE), ("LH-WG-002", ONE), ("LH-WG-003", TWO)]
    recipients = tuple(
        RecipientRecord(
            n,
            person,
            (grid,),
            "answered" if person in answered else "notified",
            1 if person in escalated else 0,
            at(answered[person]) if person in answered else None,
        )
        for n, (person, grid) in enumerate(people, start=1)
    )
    warning = WarningRecord(
        "w1",
        "id-1",
        "sender",
        "暴雨红色预警",
        "headline",
        "red",
        False,
        START,
        None,
        None,
        None,
        "roster",
        {},
        (ONE, TWO),
    )
    if answers is None:
        answers = tuple(
            AnswerRecord(r.id, r.answered_at, "sms", r.person_id)
            for r in recipients
            if r.answered_at is not None
        )
    return Records(
        warning=warning,
        recipients=recipients,
        sends=sends,
        answers=answers,
        escalations=tuple(
            EscalationRecord(r.id, 1, "LH-100001-SJ", at(3)) for r in recipients if r.escalation
        ),
        tasks=tuple(
            TaskRecord(n, "door_knock", "LH-100-BC", (grid,), status, at(minute), None, None)
            for n, (grid, minute, status) in enumerate(tasks, start=1)
        ),
    )


def figures_of(found: Records, *, running: bool = False, now: float = 60) -> dict[str, GridFigures]:
    return {
        grid.code: grid
        for grid in grid_figures(found, ROSTER, PROMISE, running=running, now=at(now))
    }


@pytest.mark.parametrize(
    ("answered", "tasks", "running", "now", "verdict", "settled", "by"),
    [
        # Everybody answered within the promise: met, at the last of them.
        ({"LH-WG-001": 2, "LH-WG-002": 7}, (), False, 60, Verdict.MET, 420.0, "answers"),
        # The last answer after the promise: missed.
        ({"LH-WG-001": 2, "LH-WG-002": 11}, (), False, 60, Verdict.MISSED, 660.0, "answers"),
        # One silent, a door-knock task under way in time: met, by the door-knock.
        ({"LH-WG-001": 2}, ((ONE, 9, "open"),), False, 60, Verdict.MET, 540.0, "door_knock"),
        # A door-knock task after the promise: missed.
        ({"LH-WG-001": 2}, ((ONE, 20, "open"),), False, 60, Verdict.MISSED, 1200.0, "door_knock"),
        # Everyone answered before the task came: the answers settled it.
        (
            {"LH-WG-001": 2, "LH-WG-002": 4},
            ((ONE, 9, "done"),),
            False,
            60,
            Verdict.MET,
            240.0,
            "answers",
        ),
        # Still running, silent, time left: pending; once the time is out: missed.
        ({"LH-WG-001": 2}, (), True, 5, Verdict.PENDING, None, ""),
        ({"LH-WG-001": 2}, (), True, 11, Verdict.MISSED, None, ""),
        ({}, (), False, 5, Verdict.MISSED, None, ""),
    ],
)
def test_a_grid_settles_when_all_answered_or_a_door_knock_is_under_way(
    answered: dict[str, float],
    tasks: tuple[tuple[str, float, str], ...],
    running: bool,
    now: float,
    verdict: Verdict,
    settled: float | None,
    by: str,
) -> None:
    grid = figures_of(records(answered=answered, tasks=tasks), running=running, now=now)[ONE]
    assert (grid.verdict, grid.settled_s, grid.settled_by) == (verdict, settled, by)
    assert grid.first_answer_s == (min(answered.values()) * 60 if answered else None)


@pytest.mark.parametrize(
    ("ended", "verdict"),
    [
        (5, Verdict.ENDED),  # cancelled 5 min in, before the 10 min were up: not judged
        (10, Verdict.ENDED),
        (20, Verdict.MISSED),  # it had its 10 min and did not settle
        (None, Verdict.MISSED),  # closed: every chain ran its course
    ],
)
def test_a_warning_ended_before_its_promise_leaves_silent_grids_unjudged(
    ended: float | None, verdict: Verdict
) -> None:
    found = records(answered={"LH-WG-001": 2, "LH-WG-003": 3})
    rows = grid_figures(
        found,
        ROSTER,
        PROMISE,
        running=False,
        now=at(60),
        ended_at=None if ended is None else at(ended),
    )
    by_code = {grid.code: grid for grid in rows}
    assert by_code[ONE].verdict is verdict
    assert by_code[TWO].verdict is Verdict.MET, "a grid that settled is judged all the same"


@pytest.mark.parametrize(
    ("answered", "escalated", "tasks", "state"),
    [
        ({"LH-WG-001": 1, "LH-WG-002": 1}, (), (), GridState.ANSWERED),
        ({"LH-WG-001": 1}, (), ((ONE, 9, "open"),), GridState.DOOR_KNOCK),
        ({"LH-WG-001": 1}, ("LH-WG-002",), (), GridState.ESCALATED),
        ({}, ("LH-WG-002",), ((ONE, 9, "done"),), GridState.ESCALATED),
        ({"LH-WG-001": 1}, (), (), GridState.WAITING),
        # An escalated person who has answered since does not make the grid "escalated".
        ({"LH-WG-001": 1}, ("LH-WG-001",), (), GridState.WAITING),
    ],
)
def test_the_map_state_of_a_grid(
    answered: dict[str, float],
    escalated: tuple[str, ...],
    tasks: tuple[tuple[str, float, str], ...],
    state: GridState,
) -> None:
    found = records(answered=answered, escalated=escalated, tasks=tasks)
    assert figures_of(found)[ONE].state is state


def test_a_door_knock_report_is_no_first_answer() -> None:
    found = records(
        answered={"LH-WG-001": 12, "LH-WG-002": 12},
        tasks=((ONE, 9, "done"),),
        answers=(
            AnswerRecord(1, at(12), "door_knock", "ops"),
            AnswerRecord(2, at(12), "door_knock", "ops"),
        ),
    )
    grid = figures_of(found)[ONE]
    assert (grid.first_answer_s, grid.answered, grid.settled_s) == (None, 2, 540.0)
    assert grid.settled_by == "door_knock"


def test_an_escalation_is_measured_against_the_step_that_called_for_it() -> None:
    policy = policy_from_data(yaml.safe_load((ROOT / "examples/policy.yaml").read_text()))
    red = policy.for_level(Level.RED)
    step = next(step for step in red.steps if step.escalate)
    due = step.after.total_seconds()
    found = replace(
        records(),
        escalations=(
            EscalationRecord(1, 1, "LH-100001-SJ", START + step.after, f"c0s{step.index}"),
            EscalationRecord(
                3, 1, "LH-100001-SJ", START + step.after + timedelta(seconds=75), f"c0s{step.index}"
            ),
        ),
    )
    (level,) = escalation_levels(found, ROSTER, red)
    assert (level["level"], level["chains"], level["planned_s"]) == (1, 2, due)
    assert (level["first_s"], level["late_s"]) == (due, 75.0)
    assert level["targets"] == ["刘桂芳"]


def test_the_whole_warning_settles_with_its_slowest_grid() -> None:
    found = records(answered={"LH-WG-001": 1, "LH-WG-002": 2, "LH-WG-003": 12})
    summed = totals(list(figures_of(found).values()), found)
    assert (summed["met"], summed["missed"], summed["all_settled_s"]) == (1, 1, 720.0)
    silent = records(answered={"LH-WG-001": 1, "LH-WG-002": 2})
    assert totals(list(figures_of(silent).values()), silent)["all_settled_s"] is None


def send(recipient: int, channel: str, status: str, reason: str | None = None) -> SendRecord:
    person = f"LH-WG-00{recipient}"
    return SendRecord(recipient, person, None, channel, "alert", status, reason, at(0))


@pytest.mark.parametrize(
    ("sends", "why"),
    [
        (
            (send(3, "sms", "rejected", "invalid_address"), send(3, "voice", "sent")),
            Why.WRONG_NUMBER,
        ),
        (
            (send(3, "sms", "rejected", "unsubscribed"), send(3, "voice", "failed", "timeout")),
            Why.REFUSED,
        ),
        ((send(3, "sms", "sent"), send(3, "voice", "failed", "timeout")), Why.NO_ANSWER),
        (
            (send(3, "wechat", "rejected", "invalid_address"), send(3, "sms", "delivered")),
            Why.NO_ANSWER,
        ),
        ((), Why.NOTHING_SENT),
    ],
)
def test_why_a_person_was_never_reached(sends: tuple[SendRecord, ...], why: Why) -> None:
    found = records(
        answered={"LH-WG-001": 1, "LH-WG-002": 1, "LH-WG-003": 4},
        sends=sends,
        answers=(
            AnswerRecord(1, at(1), "sms", "LH-WG-001"),
            AnswerRecord(2, at(1), "link", "LH-WG-002"),
            AnswerRecord(3, at(4), "supervisor", "LH-100001-SJ"),
        ),
    )
    (person,) = never_reached(found, ROSTER)
    assert (person.person_id, person.why, person.closed_by) == ("LH-WG-003", why, "supervisor")
    assert person.phone == "138****0003"


def test_a_channel_s_answer_rate_is_of_the_persons_it_reached() -> None:
    found = records(
        sends=(
            send(1, "sms", "delivered"),
            send(2, "sms", "sent"),
            send(3, "sms", "rejected", "invalid_address"),
        ),
        # LH-WG-002 answered by SMS; LH-WG-003 by SMS too, from a number the SMS never reached.
        answers=(
            AnswerRecord(2, at(1), "sms", "LH-WG-002"),
            AnswerRecord(3, at(1), "sms", "LH-WG-003"),
        ),
    )
    sms = next(rate for rate in channel_rates(found) if rate.channel == "sms")
    assert (sms.sends, sms.delivered, sms.accepted, sms.failed, sms.answers) == (3, 1, 1, 1, 2)
    assert sms.delivery_rate == pytest.approx(1 / 3)
    assert sms.answer_rate == pytest.approx(1 / 2), "never above 100 %"


def test_the_map_places_grids_on_one_plane_and_lists_those_without_coordinates() -> None:
    found = records()
    grids = list(figures_of(found).values())
    unplaced = replace(grids[0], code="441523102204001", lat=None, lon=None)
    gridmap = grid_map([*grids, unplaced], {})
    assert [g.code for g in gridmap.unplaced] == ["441523102204001"]
    assert all(0 <= g.x <= gridmap.width and 0 <= g.y <= gridmap.height for g in gridmap.grids)
    one, two = gridmap.grids
    # 人民社区第一网格 lies north-east of the second: further right, higher up.
    assert one.x > two.x and one.y < two.y


def test_boundaries_from_grids_geojson_are_drawn_on_the_same_plane(tmp_path: Path) -> None:
    ring = [[115.660, 23.280], [115.670, 23.280], [115.670, 23.290], [115.660, 23.280]]
    feature = {
        "type": "Feature",
        "properties": {"code": ONE},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    collection = {"type": "FeatureCollection", "features": [feature]}
    (tmp_path / "grids.geojson").write_text(json.dumps(collection), encoding="utf-8")
    shapes = load_grid_shapes(tmp_path)
    assert list(shapes) == [ONE]
    gridmap = grid_map(list(figures_of(records()).values()), shapes)
    drawn = {g.code: g for g in gridmap.grids}
    assert drawn[ONE].shape.startswith("M") and drawn[ONE].shape.endswith("Z")
    assert drawn[TWO].shape == "", "a grid without a boundary is a point"
    assert load_grid_shapes(tmp_path / "nowhere") == {}


def test_a_bad_grids_geojson_is_refused_with_every_problem() -> None:
    with pytest.raises(RosterError) as refused:
        shapes_from_data(
            {
                "type": "FeatureCollection",
                "features": [
                    {"properties": {}, "geometry": None},
                    {
                        "properties": {"code": ONE},
                        "geometry": {"type": "Point", "coordinates": [1, 2]},
                    },
                    {
                        "properties": {"code": TWO},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[200, 1], [1, 1], [1, 2], [200, 1]]],
                        },
                    },
                ],
            }
        )
    assert len(refused.value.problems) == 3
    assert "features[0]: no properties.code" in refused.value.problems[0]
    assert "'Point' is not a Polygon" in refused.value.problems[1]
    assert "[200, 1] is not a [longitude, latitude]" in refused.value.problems[2]
    with pytest.raises(RosterError, match="not a GeoJSON FeatureCollection"):
        shapes_from_data([])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.0, "0秒"), (7.25, "7.2秒"), (75.5, "1分15.5秒"), (3725.0, "1时02分05秒")],
)
def test_durations_read_in_chinese(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text
