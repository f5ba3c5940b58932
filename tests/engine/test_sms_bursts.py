"""SMS replies arriving together: on SQLite they are recorded in one transaction, set-based
(`GroupCommit`); the outcome must be the one recording them one by one, in order, gives."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dispatcher.engine.replies import Replies
from dispatcher.http.keys import REPLIES
from dispatcher.store.answers import Closed
from dispatcher.store.receipts import Receipt, Replayed
from tests.engine.conftest import Jiaoying, app_of, eventually
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: SQLite and PostgreSQL


def _replies(jiaoying: Jiaoying) -> Replies:
    return app_of(jiaoying.client)[REPLIES]


def _phone(jiaoying: Jiaoying, person_id: str) -> str:
    return jiaoying.phone(person_id)


async def _burst(
    jiaoying: Jiaoying, texts: list[tuple[str, str, str]]
) -> list[list[Closed] | BaseException]:
    """(person, text, MessageSid) replies sent at the same moment, in this order."""
    replies = _replies(jiaoying)
    return await asyncio.gather(
        *(
            replies.text_from(_phone(jiaoying, person), text, receipt=Receipt("twilio-sms", sid))
            for person, text, sid in texts
        ),
        return_exceptions=True,
    )


async def _recipient_ids(jiaoying: Jiaoying) -> dict[str, int]:
    return {
        row.person_id: row.id for row in await jiaoying.rows("select id, person_id from recipients")
    }


async def test_a_burst_of_replies_answers_each_person_once(jiaoying: Jiaoying) -> None:
    await jiaoying.post("red-rainstorm.xml")
    ids = await _recipient_ids(jiaoying)
    await eventually(lambda: len(jiaoying.sent("sms", "alert")) >= len(ids))
    persons = sorted(ids)
    answering, noting = persons[:-1], persons[-1]
    texts = [(person, "收到。", f"SM-{person}") for person in answering]
    texts.append((noting, "已转移群众20人", f"SM-note-{noting}"))
    texts.append((answering[0], "收到。", f"SM-{answering[0]}"))  # the provider's retry

    outcomes = await _burst(jiaoying, texts)

    for (person, _, _), outcome in zip(texts[: len(answering)], outcomes, strict=False):
        assert isinstance(outcome, list), outcome
        assert [closed.recipient_ids for closed in outcome] == [(ids[person],)], person
    assert outcomes[len(answering)] == [], "a note answers nothing"
    assert isinstance(outcomes[-1], Replayed), "the retry of a taken SMS is refused"
    assert await jiaoying.answers_by_person() == {person: [("sms", person)] for person in answering}
    (note,) = await jiaoying.rows(
        "select note, state from recipients where id = :id", id=ids[noting]
    )
    assert note.note.endswith("已转移群众20人") and note.state != "answered"


def _silent_under(summoned: list[Any]) -> tuple[str, list[str]]:
    """The supervisor summoned about the most silent persons, and those persons."""
    about: dict[str, list[str]] = {}
    for row in summoned:
        about.setdefault(row.target_id, []).append(row.person_id)
    supervisor = max(sorted(about), key=lambda target: len(about[target]))
    return supervisor, sorted(about[supervisor])


@pytest.mark.parametrize("first", ["person", "supervisor"])
async def test_a_supervisor_and_a_silent_person_replying_together(
    jiaoying: Jiaoying, first: str
) -> None:
    await jiaoying.post("red-rainstorm.xml")
    await eventually(lambda: jiaoying.sent("sms", "escalation"), within=8)
    summoned = await jiaoying.rows(
        "select e.target_id, r.person_id from escalations e"
        " join recipients r on r.id = e.recipient_id join summons s on s.id = e.summons_id"
        " where s.eta is null and r.state != 'answered'"
    )
    supervisor, silent = _silent_under(summoned)
    person = silent[0]
    texts = [(person, "1", "SM-person"), (supervisor, "1", "SM-supervisor")]
    if first == "supervisor":
        texts.reverse()

    outcomes = dict(
        zip((sender for sender, _, _ in texts), await _burst(jiaoying, texts), strict=True)
    )

    answers = await jiaoying.answers_by_person()
    for other in silent[1:]:
        assert answers[other] == [("supervisor", supervisor)], "their answer closes all of them"
    # SQLite records the two in arrival order; PostgreSQL takes them in two transactions
    # at once, and either may commit first: the outcome is then one of the two orders.
    person_won = answers[person] == [("sms", person)]
    if jiaoying.db.is_sqlite:
        assert person_won == (first == "person")
    if not person_won:
        assert answers[person] == [("supervisor", supervisor)], "closed once, by the supervisor"
        person_outcome = outcomes[person]
        assert isinstance(person_outcome, list)
        assert all(not closed.recipient_ids for closed in person_outcome)
    supervisor_outcome = outcomes[supervisor]
    assert isinstance(supervisor_outcome, list)
    closed_by_supervisor = {rid for closed in supervisor_outcome for rid in closed.recipient_ids}
    ids = await _recipient_ids(jiaoying)
    expected = silent[1:] if person_won else silent
    assert closed_by_supervisor == {ids[p] for p in expected}
    (summons,) = await jiaoying.rows(
        "select count(*) as n from summons where person_id = :p and answered_at is not null",
        p=supervisor,
    )
    assert summons.n >= 1, "the supervisor's summons is marked answered"
