"""What comes back from providers and people, applied to the store.

The HTTP callbacks authenticate a report (provider signature, signed link) and then call
one of these; nothing here trusts a caller to say who they are.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.base import Notice
from dispatcher.core.links import LinkTarget
from dispatcher.core.phones import normalise_phone
from dispatcher.engine.notices import notice_from_data
from dispatcher.engine.roster_book import RosterBook
from dispatcher.runtime.metrics import Metrics
from dispatcher.store.answers import (
    Claim,
    Closed,
    TaskReport,
    record_answer,
    record_answers,
    report_task,
)
from dispatcher.store.db import Database
from dispatcher.store.group_commit import GroupCommit
from dispatcher.store.receipts import (
    Receipt,
    Replayed,
    forget_receipts,
    take_receipt,
    take_receipts,
)
from dispatcher.store.reports import (
    LinkSubject,
    add_note,
    find_attempt,
    link_subject,
    open_warnings_of,
    record_delivery,
)
from dispatcher.store.schema import attempts

REPLIES_PER_COMMIT = 64
# How long a batch of replies waits for more under load (see GroupCommit): a few ms on a
# webhook Twilio gives 15 s, for a fifth less CPU per reply in a burst.
REPLY_LINGER = 0.003
ANSWER_WORDS = frozenset({"1", "收到", "确认", "已收到", "ok", "确认收到", "收到了"})


def is_answer(text: str) -> bool:
    """True for a reply that means "received" (`1`, `收到`, `确认`, `已收到`, `ok` …),
    in any case, width or punctuation: ` OK! `, `１`, `收到。` all count."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(
        char for char in folded if not unicodedata.category(char).startswith(("P", "S", "Z", "C"))
    )
    return kept in ANSWER_WORDS


class Replies:
    def __init__(
        self,
        db: Database,
        rosters: RosterBook,
        clock: Callable[[], datetime],
        wake: Callable[[], None],
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._rosters = rosters
        self._clock = clock
        self._wake = wake
        self._metrics = metrics
        # PostgreSQL takes concurrent writers (row locks, one lock order per chain): there,
        # each reply keeps a transaction of its own. On SQLite a batch stays bounded: the
        # scheduler and the send results wait for the writer while it records.
        self._sms_replies: GroupCommit[_Reply, list[Closed] | None] | None = (
            GroupCommit(db, _apply_replies, max_batch=REPLIES_PER_COMMIT, linger=REPLY_LINGER)
            if db.is_sqlite
            else None
        )

    async def delivery(
        self,
        *,
        key: str | None = None,
        provider_id: str | None = None,
        status: str,
        reason: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """Record a delivery report for a send (by our key, else the provider's id).

        Returns False for an unknown send or a report that would move it backwards.
        """
        async with self._db.writer.begin() as conn:
            notice = await find_attempt(conn, key=key, provider_id=provider_id)
            if notice is None:
                return False
            moved = await record_delivery(
                conn,
                notice,
                status,
                at=self._clock(),
                provider_id=provider_id,
                reason=reason,
                detail=detail,
            )
        if moved and self._metrics is not None:
            self._metrics.notices.labels(notice.channel, status).inc()
            if reason:
                self._metrics.provider_errors.labels(notice.channel, reason).inc()
        if moved and status == "rejected":
            self._wake()
        return moved

    async def take_receipt(self, receipt: Receipt, *, keep: timedelta) -> None:
        """Record a callback taken, on its own; raises `Replayed` when it was taken before.

        For callbacks whose effect is not one transaction (a WeChat push): the receipts of
        its kind older than `keep` are forgotten in the same transaction."""
        now = self._clock()
        async with self._db.writer.begin() as conn:
            await forget_receipts(conn, receipt.kind, now - keep)
            if not await take_receipt(conn, receipt, now):
                raise Replayed(receipt.kind)

    async def notice(self, key: str) -> Notice | None:
        """The notice as it was claimed for send `key` (what a voice call reads out)."""
        async with self._db.reader.connect() as conn:
            row = await conn.execute(select(attempts.c.payload).where(attempts.c.key == key))
            payload = row.scalar_one_or_none()
        return None if payload is None else notice_from_data(payload)

    async def send_of(self, provider_id: str) -> tuple[str, str] | None:
        """(key, notice kind) of the send the provider knows as `provider_id` (a call id
        in a push that names no key of ours)."""
        async with self._db.reader.connect() as conn:
            notice = await find_attempt(conn, provider_id=provider_id)
        return None if notice is None else (notice.key, notice.kind)

    async def send_state(self, key: str) -> tuple[str, str | None] | None:
        """(status, error reason) of send `key` as stored (e.g. "failed", "voicemail")."""
        async with self._db.reader.connect() as conn:
            notice = await find_attempt(conn, key=key)
        return None if notice is None else (notice.status, notice.error_reason)

    async def answer_send(
        self, key: str, *, via: str, detail: str | None = None, receipt: Receipt | None = None
    ) -> Closed | None:
        """The addressee of send `key` answered it (key 1 on that very call).

        With a `receipt` (the provider's identity of the key press), raises `Replayed`
        and changes nothing when that receipt was taken before."""
        async with self._db.writer.begin() as conn:
            if receipt is not None and not await take_receipt(conn, receipt, self._clock()):
                raise Replayed(receipt.kind)
            notice = await find_attempt(conn, key=key)
            if notice is None or notice.person_id is None:
                return None
            closed = await record_answer(
                conn,
                warning_id=notice.warning_id,
                person_id=notice.person_id,
                via=via,
                by=notice.person_id,
                at=self._clock(),
                detail=detail,
            )
        self._after(closed)
        return closed

    async def answer_person(
        self, warning_id: str, person_id: str, *, via: str, by: str, how: str | None = None
    ) -> Closed:
        """`person_id` answered `warning_id` (signed link, or an operator's entry by `by`)."""
        async with self._db.writer.begin() as conn:
            closed = await record_answer(
                conn,
                warning_id=warning_id,
                person_id=person_id,
                via=via,
                by=by,
                how=how,
                at=self._clock(),
            )
        self._after(closed)
        return closed

    async def report_task(
        self, task_id: int, report: dict[str, object], *, by: str
    ) -> TaskReport | None:
        """A door-knock report, recorded by `by`: closes the task and, as any other answer
        does, answers for its grids' silent persons (counted, evented, timed as one).

        None for an unknown task; reporting twice changes nothing."""
        async with self._db.writer.begin() as conn:
            reported = await report_task(conn, task_id, dict(report), by=by, at=self._clock())
        if reported is not None:
            self._after(reported.closed)
        return reported

    async def link_subject(self, target: LinkTarget) -> LinkSubject | None:
        async with self._db.reader.connect() as conn:
            return await link_subject(conn, target.kind, target.id)

    async def answer_link(self, target: LinkTarget) -> LinkSubject | None:
        """The addressee of a genuine answer link pressed 收到 on its page."""
        async with self._db.writer.begin() as conn:
            subject = await link_subject(conn, target.kind, target.id)
            if subject is None:
                return None
            closed = await record_answer(
                conn,
                warning_id=subject.warning_id,
                person_id=subject.person_id,
                via="link",
                by=subject.person_id,
                at=self._clock(),
            )
        self._after(closed)
        return subject

    def sender(self, raw: str) -> str:
        """The number an SMS came from (`raw`, as the provider sent it) in E.164; raises
        ValueError, as `normalise_phone`, for one that is not a phone number.

        Twilio sends E.164 already: a number that is a key of the roster as it stands
        needs no parsing, which cost about a seventh of an SMS reply's route."""
        if self._rosters.persons_with_phone(raw):
            return raw
        return normalise_phone(raw)

    async def text_from(
        self, phone: str, text: str, *, receipt: Receipt | None = None
    ) -> list[Closed]:
        """An SMS from `phone` (E.164): an answer to every open warning of its owner(s),
        or, when it is not an answer word, a note on each of those warnings.

        With a `receipt` (the provider's MessageSid), raises `Replayed` and changes
        nothing when that SMS was taken before: recorded in the answer's own transaction.

        On SQLite, replies arriving together are committed together (see `GroupCommit`);
        each still returns only once its own answer is stored."""
        reply = _Reply(
            tuple(person.id for person in self._rosters.persons_with_phone(phone)),
            text,
            self._clock(),
            receipt,
        )
        if self._sms_replies is not None:
            closed = await self._sms_replies.run(reply)
        else:
            async with self._db.writer.begin() as conn:
                (closed,) = await _apply_replies(conn, [reply])
        if closed is None:
            raise Replayed(receipt.kind if receipt else "sms")
        for item in closed:
            self._after(item)
        return closed

    def _after(self, closed: Closed) -> None:
        """Wake the scheduler if the answer left it chains to weigh, and count them."""
        if not closed.recipient_ids:
            return
        if closed.waiting:
            self._wake()
        if self._metrics is not None:
            for via in closed.vias:
                self._metrics.answers.labels(via).inc()
                self._metrics.time_to_answer.labels(closed.level).observe(closed.seconds_after_sent)


@dataclass(frozen=True, slots=True)
class _Reply:
    persons: tuple[str, ...]  # whose number it came from
    text: str
    at: datetime
    receipt: Receipt | None = None


async def _apply_replies(conn: AsyncConnection, replies: list[_Reply]) -> list[list[Closed] | None]:
    """Apply SMS replies, in order, set-based: for each, what it closed, or None (and
    nothing written for it) when its receipt was taken before.

    Each reply answers (or is a note on) the warnings its sender could answer when the
    batch began; a chain an earlier reply of the batch closed stays that reply's."""
    if not replies:
        return []
    fresh = iter(
        await take_receipts(
            conn,
            [reply.receipt for reply in replies if reply.receipt is not None],
            max(reply.at for reply in replies),
        )
    )
    taken = [reply.receipt is None or next(fresh) for reply in replies]
    open_warnings = await open_warnings_of(
        conn,
        (
            person
            for reply, new in zip(replies, taken, strict=True)
            if new
            for person in reply.persons
        ),
    )
    claims: list[Claim] = []
    claimed_by: list[int] = []  # the reply each claim came from
    for index, (reply, new) in enumerate(zip(replies, taken, strict=True)):
        if not new:
            continue
        answer = is_answer(reply.text)
        for person_id in reply.persons:
            for warning_id in open_warnings.get(person_id, ()):
                if answer:
                    claims.append(
                        Claim(
                            warning_id,
                            person_id,
                            "sms",
                            person_id,
                            reply.at,
                            detail=reply.text[:200],
                        )
                    )
                    claimed_by.append(index)
                else:
                    await add_note(conn, warning_id, person_id, reply.text, reply.at)
    closed_by: dict[int, list[Closed]] = defaultdict(list)
    for index, closed in zip(claimed_by, await record_answers(conn, claims), strict=True):
        closed_by[index].append(closed)
    return [closed_by.get(index, []) if new else None for index, new in enumerate(taken)]
