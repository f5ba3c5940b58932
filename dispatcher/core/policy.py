"""The 叫应 policy: per warning level, an ordered list of steps (who to call, how, when).

Loaded from YAML (DESIGN.md, "Policy"), validated at the edge with pydantic and turned into
frozen values the pure state machine reads. Every problem is reported at once with its
location, e.g. `red.steps[2].notify[0]: unknown channel 'fax'`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from dispatcher.core.durations import format_duration, parse_duration
from dispatcher.core.errors import PolicyError
from dispatcher.core.levels import level_from_value
from dispatcher.core.model import Level

PERSON_CHANNELS = ("voice", "sms", "wechat")
"""Channels that reach one person. Broadcast reaches a zone, so it is a step flag instead."""


class GridAnswer(StrEnum):
    EACH = "each"  # every grid person answers for themselves (the default)
    ANY = "any"  # A/B-role grids: the first answer closes the grid


class Unless(StrEnum):
    ANSWERED = "answered"
    DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a level's chain. `after` counts from the warning's `sent`."""

    index: int
    after: timedelta
    notify: tuple[str, ...] = ()
    broadcast: bool = False
    escalate: bool = False
    task: str | None = None
    unless: Unless | None = None

    @property
    def is_escalation(self) -> bool:
        """True when the step reaches past the silent person (supervisor or door-knock)."""
        return self.escalate or self.task is not None


@dataclass(frozen=True, slots=True)
class LevelPolicy:
    level: Level
    answer_within: timedelta
    steps: tuple[Step, ...]
    grid_answer: GridAnswer = GridAnswer.EACH
    voice_full_message: bool = False

    @property
    def channels(self) -> frozenset[str]:
        """Every person channel any step of this level uses."""
        return frozenset(channel for step in self.steps for channel in step.notify)


@dataclass(frozen=True, slots=True)
class Policy:
    """Per level, its steps; and `default_level`, the level of a warning that states none
    (severity Unknown, no level parameter): None, and such a warning is refused."""

    levels: Mapping[Level, LevelPolicy]
    default_level: Level | None = None

    def for_level(self, level: Level) -> LevelPolicy:
        return self.levels[level]


class _StepModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    after: str
    notify: list[str] = []
    broadcast: bool = False
    escalate: Literal["supervisor"] | None = None
    task: Literal["door_knock", "gong"] | None = None
    unless: Unless | None = None

    @field_validator("after", mode="before")
    @classmethod
    def _after_is_duration(cls, value: object) -> str:
        return _duration_text(value)

    @field_validator("notify")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        unknown = [channel for channel in value if channel not in PERSON_CHANNELS]
        if unknown:
            known = ", ".join(PERSON_CHANNELS)
            raise ValueError(f"unknown channel(s) {', '.join(unknown)} (known: {known})")
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> _StepModel:
        if not (self.notify or self.broadcast or self.escalate or self.task):
            raise ValueError("a step must notify, broadcast, escalate or assign a task")
        if (self.escalate or self.task) and self.unless is not Unless.ANSWERED:
            raise ValueError("a step that escalates or assigns a task needs `unless: answered`")
        return self


class _LevelModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    answer_within: str
    grid_answer: GridAnswer = GridAnswer.EACH
    voice_full_message: bool = False
    steps: list[_StepModel]

    @field_validator("answer_within", mode="before")
    @classmethod
    def _is_duration(cls, value: object) -> str:
        return _duration_text(value)

    @model_validator(mode="after")
    def _steps_in_order(self) -> _LevelModel:
        if not self.steps:
            raise ValueError("a level needs at least one step")
        afters = [parse_duration(step.after) for step in self.steps]
        if afters != sorted(afters):
            raise ValueError("steps must be listed in the order of their `after`")
        if not self.steps[0].notify:
            raise ValueError("the first step must notify the grid persons")
        return self


class _PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_level: Level | None = None
    red: _LevelModel
    orange: _LevelModel
    yellow: _LevelModel
    blue: _LevelModel


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """Parse policy YAML text.

    Raises PolicyError listing every problem, each prefixed with its location.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise PolicyError([f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    return policy_from_data(raw, source=source)


def policy_from_data(raw: object, *, source: str = "policy") -> Policy:
    """Validate an already-decoded policy mapping (YAML, or JSON kept with a warning)."""
    if not isinstance(raw, dict):
        raise PolicyError([f"{source}: expected a mapping of levels (red, orange, yellow, blue)"])
    default = raw.get("default_level")
    if isinstance(default, str) and (named := level_from_value(default)) is not None:
        raw = {**raw, "default_level": named.value}  # 黄色, Yellow, 02: the level's own name
    try:
        model = _PolicyModel.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError([_describe(error) for error in exc.errors()]) from None
    levels = {level: _level(level, getattr(model, level.value)) for level in Level}
    return Policy(levels=levels, default_level=model.default_level)


def policy_to_data(policy: Policy) -> dict[str, Any]:
    """The policy as plain data that `policy_from_data` reads back unchanged."""
    data: dict[str, Any] = {level.value: _level_data(policy.for_level(level)) for level in Level}
    if policy.default_level is not None:
        data["default_level"] = policy.default_level.value
    return data


def _level_data(level: LevelPolicy) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for step in level.steps:
        data: dict[str, Any] = {"after": format_duration(step.after)}
        if step.notify:
            data["notify"] = list(step.notify)
        if step.broadcast:
            data["broadcast"] = True
        if step.escalate:
            data["escalate"] = "supervisor"
        if step.task:
            data["task"] = step.task
        if step.unless:
            data["unless"] = step.unless.value
        steps.append(data)
    return {
        "answer_within": format_duration(level.answer_within),
        "grid_answer": level.grid_answer.value,
        "voice_full_message": level.voice_full_message,
        "steps": steps,
    }


def _level(level: Level, model: _LevelModel) -> LevelPolicy:
    steps = tuple(
        Step(
            index=index,
            after=parse_duration(step.after),
            notify=tuple(step.notify),
            broadcast=step.broadcast,
            escalate=step.escalate is not None,
            task=step.task,
            unless=step.unless,
        )
        for index, step in enumerate(model.steps)
    )
    return LevelPolicy(
        level=level,
        answer_within=parse_duration(model.answer_within),
        steps=steps,
        grid_answer=model.grid_answer,
        voice_full_message=model.voice_full_message,
    )


def _duration_text(value: object) -> str:
    """Accept what YAML gives (a bare `3` is an int) and insist on a unit."""
    text = str(value)
    parse_duration(text)
    return text


def _describe(error: Mapping[str, Any]) -> str:
    where = ""
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where or 'policy'}: {message}"
