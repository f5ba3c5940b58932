"""The simulated people of a drill: what each one does, drawn from the scenario and a seed.

Every draw is keyed by (seed, person, what is drawn), never by the order events happen
in, so the same seed gives the same people whatever the timing of a run: who never
answers, whose number is wrong or switched off, and for the n-th notice on a channel,
whether and after how long it is answered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from dispatcher.core.roster import Person, Roster
from dispatcher.drill.scenario import Delay, Scenario


class Line(StrEnum):
    """What becomes of a call or SMS to the person's number."""

    OK = "ok"
    WRONG = "wrong"  # no such subscriber (空号): the carrier refuses, for good
    SWITCHED_OFF = "switched_off"  # 关机: never delivered, every time


@dataclass(frozen=True, slots=True)
class Answer:
    """The person answers a notice `after` it reached them, or not at all (None)."""

    after: timedelta | None


class People:
    """The roster's persons as the scenario and `seed` make them behave."""

    def __init__(self, roster: Roster, scenario: Scenario, seed: int) -> None:
        self._roster = roster
        self._scenario = scenario
        self._seed = seed
        self._by_phone = {p.phone: p for p in roster.persons.values() if p.phone}
        self._by_openid = {p.wechat_openid: p for p in roster.persons.values() if p.wechat_openid}

    def by_phone(self, phone: str) -> Person | None:
        return self._by_phone.get(phone)

    def by_openid(self, openid: str) -> Person | None:
        return self._by_openid.get(openid)

    def _draw(self, person_id: str, what: str) -> random.Random:
        # Seeded from a string: the same person draws the same, in any order, any process.
        return random.Random(f"{self._seed}:{person_id}:{what}")  # noqa: S311 - not security

    def line(self, person: Person) -> Line:
        roll = self._draw(person.id, "line").random()
        if roll < self._scenario.wrong:
            return Line.WRONG
        if roll < self._scenario.wrong + self._scenario.switched_off:
            return Line.SWITCHED_OFF
        return Line.OK

    def never_answers(self, person: Person) -> bool:
        habits = self._scenario.habits_of(person.role)
        return self._draw(person.id, "never").random() < habits.never

    def answer(self, person: Person, channel: str, nth: int) -> Answer:
        """Whether the person answers their `nth` notice on `channel` (from 0), and when."""
        if self.never_answers(person):
            return Answer(None)
        habit = self._scenario.habits_of(person.role).answer.get(channel)
        if habit is None:
            return Answer(None)
        draw = self._draw(person.id, f"{channel}:{nth}")
        if draw.random() >= habit.share:
            return Answer(None)
        return Answer(pick(draw, habit.after))

    def task_report_after(self, kind: str, task_key: str) -> timedelta:
        delay = self._scenario.tasks.get(kind, Delay(timedelta(minutes=2), timedelta(minutes=8)))
        return pick(self._draw(task_key, f"task:{kind}"), delay)


def pick(draw: random.Random, delay: Delay) -> timedelta:
    low, high = delay.low.total_seconds(), delay.high.total_seconds()
    return timedelta(seconds=round(draw.uniform(low, high), 1))
