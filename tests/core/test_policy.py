"""Policy files: the shipped default, the DESIGN.md example and every kind of mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dispatcher.core.durations import format_duration, parse_duration
from dispatcher.core.errors import PolicyError
from dispatcher.core.model import Level
from dispatcher.core.policy import GridAnswer, Unless, parse_policy
from dispatcher.files.policy_file import load_policy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

LEVELS_TAIL = """
orange: {answer_within: 10m, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 10m, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 10m, steps: [{after: 0s, notify: [sms]}]}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("3m", timedelta(minutes=3)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("0.5s", timedelta(milliseconds=500)),
        (" 2h ", timedelta(hours=2)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "3", "m3", "3 minutes", "-3m", "3d", "1h-30m"])
def test_bad_durations_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match="use s, m or h"):
        parse_duration(text)


def test_duration_formatting_round_trips() -> None:
    for text in ["0s", "45s", "3m", "1h", "1h30m", "2h5m7s", "1.5s", "4m0.25s"]:
        assert format_duration(parse_duration(text)) == text


def test_shipped_policy_follows_local_practice() -> None:
    policy = load_policy(EXAMPLES / "policy.yaml")
    red = policy.for_level(Level.RED)
    first = red.steps[0]
    assert first.after == timedelta(0)
    assert set(first.notify) == {"voice", "sms", "wechat"}
    assert any(step.broadcast and step.after == timedelta(0) for step in red.steps)
    redials = [s for s in red.steps if s.notify == ("voice",) and not s.is_escalation]
    assert redials and all(s.after <= timedelta(minutes=5) for s in redials)
    supervisor = next(s for s in red.steps if s.escalate)
    assert supervisor.after == red.answer_within == timedelta(minutes=5)
    assert red.steps[-1].task == "door_knock"
    assert red.voice_full_message
    blue = policy.for_level(Level.BLUE)
    assert set(blue.steps[0].notify) == {"sms", "wechat"}


def test_design_example_parses_into_steps() -> None:
    text = (
        """
red:
  answer_within: 10m
  grid_answer: any
  steps:
    - {after: 0s,  notify: [voice, sms, wechat]}
    - {after: 0s,  broadcast: true}
    - {after: 3m,  unless: answered, notify: [voice]}
    - {after: 10m, unless: answered, escalate: supervisor, notify: [voice, sms]}
    - {after: 20m, unless: answered, escalate: supervisor, task: door_knock}
"""
        + LEVELS_TAIL
    )
    red = parse_policy(text).for_level(Level.RED)
    assert red.grid_answer is GridAnswer.ANY
    assert [s.after for s in red.steps] == [
        timedelta(0),
        timedelta(0),
        timedelta(minutes=3),
        timedelta(minutes=10),
        timedelta(minutes=20),
    ]
    assert red.steps[2].unless is Unless.ANSWERED
    assert red.steps[3].escalate and red.steps[3].notify == ("voice", "sms")
    assert red.steps[4].task == "door_knock" and red.steps[4].is_escalation
    assert red.channels == {"voice", "sms", "wechat"}


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text + LEVELS_TAIL)
    return list(caught.value.problems)


def test_every_problem_is_reported_at_once_with_its_location() -> None:
    problems = _problems(
        """
red:
  answer_within: soon
  steps:
    - {after: 0s, notify: [fax]}
    - {after: 3, notify: [voice]}
    - {after: 5m, escalate: supervisor, notify: [voice]}
    - {after: 6m}
    - {after: 7m, notify: [sms], colour: red}
"""
    )
    text = "\n".join(problems)
    assert "red.answer_within: 'soon' is not a duration" in text
    assert "red.steps[0].notify: unknown channel(s) fax" in text
    assert "red.steps[1].after: '3' is not a duration" in text
    assert "red.steps[2]: a step that escalates or assigns a task needs `unless: answered`" in text
    assert "red.steps[3]: a step must notify, broadcast, escalate or assign a task" in text
    assert "red.steps[4].colour: unknown key" in text


def test_steps_out_of_order_and_missing_levels_are_refused() -> None:
    problems = _problems(
        """
red:
  answer_within: 5m
  steps:
    - {after: 5m, notify: [voice]}
    - {after: 1m, notify: [sms]}
"""
    )
    assert problems == ["red: steps must be listed in the order of their `after`"]
    with pytest.raises(PolicyError) as caught:
        parse_policy("red: {answer_within: 5m, steps: [{after: 0s, notify: [sms]}]}")
    assert set(caught.value.problems) == {
        "orange: Field required",
        "yellow: Field required",
        "blue: Field required",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("red: [1, 2", "policy:1: not valid YAML"),
        ("- just a list", "policy: expected a mapping of levels"),
    ],
)
def test_not_a_policy_at_all(text: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.problems[0].startswith(problem)


def test_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_a_policy_kept_as_data_reads_back_unchanged() -> None:
    from dispatcher.core.policy import policy_from_data, policy_to_data

    policy = load_policy(EXAMPLES / "policy.yaml")
    assert policy_from_data(policy_to_data(policy)) == policy


RED = "red: {answer_within: 10m, steps: [{after: 0s, notify: [voice]}]}\n"


@pytest.mark.parametrize(
    ("written", "level"),
    [("yellow", Level.YELLOW), ("Orange", Level.ORANGE), ("黄色", Level.YELLOW), ("04", Level.RED)],
)
def test_default_level_is_optional_and_read_as_any_level_word(written: str, level: Level) -> None:
    assert parse_policy(RED + LEVELS_TAIL).default_level is None
    policy = parse_policy(f"default_level: {written!r}\n" + RED + LEVELS_TAIL)
    assert policy.default_level is level
    from dispatcher.core.policy import policy_from_data, policy_to_data

    assert policy_from_data(policy_to_data(policy)) == policy, "kept with each warning"


def test_a_default_level_that_is_no_level_is_refused() -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy("default_level: purple\n" + RED + LEVELS_TAIL)
    assert refused.value.problems == (
        "default_level: Input should be 'red', 'orange', 'yellow' or 'blue'",
    )
