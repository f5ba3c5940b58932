"""A drill scenario (演练脚本): the warning to rehearse and how the county's people and
providers behave, read from YAML and checked with every problem listed at once.

    name: 红色暴雨预警叫应演练
    start: "2026-07-20T09:55:00+08:00"   # the drill clock's start; default: now
    warning: {level: red, event: 暴雨红色预警, area: {441523100: 河田镇, 441523101: 水唇镇}}
    people:
      default: {never: 10%, answer: {sms: {share: 70%, after: 30s-5m}, voice: ...}}
      roles: {村书记: {never: 0%, answer: {...}}}   # a role whose name starts with the key
    tasks: {door_knock: 3m-12m, gong: 1m-4m}        # until the field report comes back
    numbers: {wrong: 2%, switched_off: 3%}
    outages: [{channel: sms, from: "10:00", to: "10:20"}]   # 断网: clock times or offsets
    broadcast_failures: [441523100202]              # zones whose loudspeakers fail
    broadcast_refused: [441523101203]               # zones the platform refuses to play
    duration: 25m                                   # drill time; default: policy + margin

Times in `from`/`to` are the drill clock's local time ("10:00", Beijing) or offsets from
the warning ("5m"). Shares are "10%" or 0.1; delays "30s-5m" (uniform) or "2m".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dispatcher.core.durations import parse_duration
from dispatcher.core.errors import InputError

BEIJING = timezone(timedelta(hours=8))
CHANNELS = ("voice", "sms", "wechat")
OUTAGE_CHANNELS = (*CHANNELS, "broadcast")
TASK_KINDS = ("door_knock", "gong")


class ScenarioError(InputError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("drill scenario has problems:\n" + "\n".join(problems))


@dataclass(frozen=True, slots=True)
class Delay:
    """A uniform delay between `low` and `high` (drill time)."""

    low: timedelta
    high: timedelta


@dataclass(frozen=True, slots=True)
class ChannelHabit:
    share: float  # chance that one notice on this channel is answered
    after: Delay


@dataclass(frozen=True, slots=True)
class Habits:
    never: float
    answer: dict[str, ChannelHabit]


@dataclass(frozen=True, slots=True)
class Outage:
    channel: str
    start: timedelta  # from the warning's sent
    end: timedelta


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    start: datetime | None
    level: str
    event: str
    area: dict[str, str]  # division code → its name ("" unnamed); empty: the whole county
    default: Habits
    roles: dict[str, Habits]
    tasks: dict[str, Delay]
    wrong: float
    switched_off: float
    outages: tuple[Outage, ...]
    broadcast_failures: tuple[str, ...]
    broadcast_refused: tuple[str, ...]
    duration: timedelta | None

    def habits_of(self, role: str) -> Habits:
        """The habits of the longest role key `role` starts with, else the default."""
        keys = sorted((key for key in self.roles if role.startswith(key)), key=len)
        return self.roles[keys[-1]] if keys else self.default

    def down(self, channel: str, since_sent: timedelta) -> bool:
        return any(o.channel == channel and o.start <= since_sent < o.end for o in self.outages)


def _share(value: object) -> float:
    text = str(value).strip()
    number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 <= number <= 1:
        raise ValueError(f"{value!r} is not a share between 0% and 100%")
    return number


def _delay(value: object) -> Delay:
    text = str(value).replace(" ", "")
    low, _, high = text.partition("-")
    delay = Delay(parse_duration(low), parse_duration(high or low))
    if delay.high < delay.low:
        raise ValueError(f"{value!r}: the longer delay comes second")
    return delay


class _HabitModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    share: Any = 1.0
    after: Any = "1m"

    @field_validator("share")
    @classmethod
    def _is_share(cls, value: object) -> float:
        return _share(value)

    @field_validator("after")
    @classmethod
    def _is_delay(cls, value: object) -> Delay:
        return _delay(value)


class _HabitsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    never: Any = 0.0
    answer: dict[str, _HabitModel] = {}

    @field_validator("never")
    @classmethod
    def _is_share(cls, value: object) -> float:
        return _share(value)

    @field_validator("answer")
    @classmethod
    def _known(cls, value: dict[str, _HabitModel]) -> dict[str, _HabitModel]:
        unknown = sorted(set(value) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown channel(s) {', '.join(unknown)} (known: voice, sms, wechat)")
        return value


class _PeopleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default: _HabitsModel = _HabitsModel()
    roles: dict[str, _HabitsModel] = {}


class _WarningModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    level: str = Field(pattern="^(red|orange|yellow|blue)$")
    event: str = Field(min_length=1, max_length=60)
    area: dict[str, str] = {}

    @field_validator("area", mode="before")
    @classmethod
    def _codes(cls, value: object) -> dict[str, str]:
        if isinstance(value, dict):
            named = {str(code): str(name) for code, name in value.items()}
        else:
            named = {str(code): "" for code in (value if isinstance(value, list) else [value])}
        codes = list(named)
        bad = [code for code in codes if not code.isdigit() or len(code) not in (6, 9, 12)]
        if bad:
            raise ValueError(f"not division codes (6, 9 or 12 digits): {', '.join(bad)}")
        return named


class _OutageModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    channel: str = Field(pattern="^(voice|sms|wechat|broadcast)$")
    start: str = Field(alias="from")
    end: str = Field(alias="to")


class _NumbersModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    wrong: Any = 0.0
    switched_off: Any = 0.0

    @field_validator("wrong", "switched_off")
    @classmethod
    def _is_share(cls, value: object) -> float:
        return _share(value)


class _ScenarioModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    start: datetime | None = None
    warning: _WarningModel
    people: _PeopleModel = _PeopleModel()
    tasks: dict[str, Any] = {}
    numbers: _NumbersModel = _NumbersModel()
    outages: list[_OutageModel] = []
    broadcast_failures: list[str] = []
    broadcast_refused: list[str] = []
    duration: str | None = None

    @field_validator("tasks")
    @classmethod
    def _task_delays(cls, value: dict[str, Any]) -> dict[str, Delay]:
        unknown = sorted(set(value) - set(TASK_KINDS))
        if unknown:
            raise ValueError(f"unknown task(s) {', '.join(unknown)} (known: door_knock, gong)")
        return {kind: _delay(delay) for kind, delay in value.items()}

    @field_validator("broadcast_failures", "broadcast_refused", mode="before")
    @classmethod
    def _zones(cls, value: object) -> list[str]:
        return [str(zone) for zone in value] if isinstance(value, list) else [str(value)]

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the start with its offset, e.g. 2026-07-20T09:55:00+08:00")
        return value


def parse_scenario(text: str, *, source: str = "scenario") -> Scenario:
    """The scenario `text` describes; raises ScenarioError listing every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{source}: not valid YAML ({exc})"]) from None
    try:
        model = _ScenarioModel.model_validate(raw)
    except ValidationError as exc:
        found = [f"{source}: {_where(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ScenarioError(found) from None
    problems: list[str] = []
    outages = []
    for n, outage in enumerate(model.outages):
        try:
            start, end = (_offset(t, model.start) for t in (outage.start, outage.end))
        except ValueError as exc:
            problems.append(f"{source}: outages[{n}]: {exc}")
            continue
        if end <= start:
            problems.append(f"{source}: outages[{n}]: ends before it starts")
        outages.append(Outage(outage.channel, start, end))
    duration = None
    if model.duration is not None:
        try:
            duration = parse_duration(model.duration)
        except ValueError as exc:
            problems.append(f"{source}: duration: {exc}")
    if problems:
        raise ScenarioError(problems)
    return Scenario(
        name=model.name,
        start=model.start,
        level=model.warning.level,
        event=model.warning.event,
        area=dict(model.warning.area),
        default=_habits(model.people.default),
        roles={role: _habits(h) for role, h in model.people.roles.items()},
        tasks=dict(model.tasks),
        wrong=model.numbers.wrong,
        switched_off=model.numbers.switched_off,
        outages=tuple(outages),
        broadcast_failures=tuple(model.broadcast_failures),
        broadcast_refused=tuple(model.broadcast_refused),
        duration=duration,
    )


def _habits(model: _HabitsModel) -> Habits:
    return Habits(
        never=model.never,
        answer={c: ChannelHabit(h.share, h.after) for c, h in model.answer.items()},
    )


def _offset(text: str, start: datetime | None) -> timedelta:
    """An outage bound: an offset from the warning ("5m"), or a local clock time ("10:00")
    on the drill's start day, which then needs a `start`."""
    text = str(text).strip()
    if ":" not in text:
        return parse_duration(text)
    if start is None:
        raise ValueError(f"{text!r} is a clock time: give the scenario a `start`")
    moment = time.fromisoformat(text)
    local = start.astimezone(BEIJING)
    at = datetime.combine(local.date(), moment, tzinfo=BEIJING)
    if at < local:
        at += timedelta(days=1)
    return at - local


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "scenario"
