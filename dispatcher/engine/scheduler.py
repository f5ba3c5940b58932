"""The scheduler: claims due timers and summons, applies the state machine, hands out sends.

Each batch is one write transaction: claim the due rows, read the snapshots, decide,
write the decisions, the next timers and the claimed sends — then, after the commit,
give the sends to the sender. A crash before the commit changes nothing; a crash after
it leaves claimed sends that `recover` makes again (counted as possible duplicates).
It sleeps until the next timer is due or something wakes it: no busy loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.effects import (
    Claim,
    Effects,
    RecipientView,
    address_of,
    effects_of,
    reachable_channels,
)
from dispatcher.core.jsonform import warning_from_data
from dispatcher.core.links import Target
from dispatcher.core.machine import NoticeKind, decide
from dispatcher.core.policy import LevelPolicy
from dispatcher.engine.notices import NoticeFactory, addressee_of, extra_of, notice_to_data
from dispatcher.engine.roster_book import RosterBook
from dispatcher.engine.sender import Order, Sender
from dispatcher.engine.texts import WarningText
from dispatcher.runtime.metrics import Metrics
from dispatcher.store.chains import (
    ChainState,
    StoredRecipient,
    add_events,
    claim_sends,
    load_chains,
    load_recipients,
    mark_first_notified,
    save_decisions,
)
from dispatcher.store.db import Database
from dispatcher.store.due import claim_due, next_due
from dispatcher.store.escalations import (
    DueSummons,
    add_escalations,
    claim_due_summons,
    close_summons,
    join_summons,
    join_tasks,
    members_of,
    task_grids,
)
from dispatcher.store.outbox import event_row
from dispatcher.store.policies import level_policy
from dispatcher.store.schema import messages

log = structlog.get_logger("jiaoying.scheduler")

RETRY_PAUSE = 1.0  # seconds after a failed batch: long enough not to spin on a dead store
# Parsed texts and policies of this many warnings are kept: the ones in progress, not all ever.
CACHED_WARNINGS = 1024

K = TypeVar("K")
V = TypeVar("V")


class Scheduler:
    def __init__(
        self,
        db: Database,
        rosters: RosterBook,
        notices: NoticeFactory,
        sender: Sender,
        clock: Callable[[], datetime],
        *,
        owner: str,
        batch: int = 500,
        gather: timedelta = timedelta(seconds=2),
        idle: float = 5.0,
        pace: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._rosters = rosters
        self._notices = notices
        self._sender = sender
        self._clock = clock
        self._owner = owner
        self._batch = batch
        self._gather = gather
        self._idle = idle
        self._pace = pace
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._woken = False  # woken since the last claim: claim without waiting for room
        self._stopping = False
        self._texts: dict[int, WarningText] = {}
        self._turn = 0  # whose turn a remainder is, between due warnings of one level

    def wake(self) -> None:
        """Look at the timers now (a warning arrived, an answer or a failure was recorded)."""
        self._wake.set()
        self._woken = True
        self._sender.nudge()

    def stop(self) -> None:
        """End `run()` after the batch in progress: a batch is one transaction, and a task
        cancelled inside one could leave SQLite's write lock held."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Work until `stop()`. A failed batch (store trouble, a conflict with another
        replica) is rolled back and retried; the loop itself never dies of it."""
        while not self._stopping:
            self._wake.clear()
            try:
                if await self.tick():
                    continue
                await self._sleep()
            except Exception:
                log.exception("scheduler batch failed; retrying")
                await asyncio.sleep(RETRY_PAUSE)

    async def tick(self) -> int:
        """Process what is due now; returns how many rows were handled."""
        return await self._run_summons() + await self._run_timers()

    async def _sleep(self) -> None:
        async with self._db.reader.connect() as conn:
            due = await next_due(conn)
        delay = self._idle
        if due is not None:
            # `pace` clock seconds pass per real second (a drill's compressed clock).
            delay = min(delay, max(0.0, (due - self._clock()).total_seconds() / self._pace))
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _run_timers(self) -> int:
        # Claim no more than the sender can start at once: a claimed send waiting for the
        # window would be made again after a crash without ever having gone out, and the
        # count of possible duplicates would overstate. And wait until half the window is
        # free: a batch is one transaction, one fsync, so claiming whatever trickles free
        # (a few places at a time) would make the commits, not the sends, the bottleneck.
        # A channel's budget (what its rate starts in a short while) keeps the window from
        # filling with blue sends waiting for the rate while a red warning's chains wait to
        # be claimed. Woken (a red warning may have come), it claims at once what the
        # budgets allow, the most urgent due chains first.
        await self._sender.wait_for_room(
            max(1, self._sender.window // 2), unless=lambda: self._woken
        )
        budget = self._sender.budget(urgent=self._woken)
        self._woken = False
        room = self._sender.room
        limit = max(1, min(self._batch, room, max(budget.values(), default=room)))
        now = self._clock()
        async with self._db.writer.begin() as conn:
            tokens = await claim_due(conn, now, limit, turn=self._turn)
            self._turn += 1
            if not tokens:
                return 0
            stored = await load_recipients(conn, tokens)
            chains = await load_chains(conn, {r.warning_id for r in stored})
            handled, orders = await self._decide_all(conn, stored, chains, now, room, budget)
        await self._sender.submit(orders)
        return handled

    async def _decide_all(
        self,
        conn: AsyncConnection,
        stored: list[StoredRecipient],
        chains: dict[str, ChainState],
        now: datetime,
        room: int,
        budget: dict[str, int],
    ) -> tuple[int, list[Order]]:
        """Decide for `stored` in turn while their sends fit in `room` and each channel's
        `budget` (at least one recipient); the rest keep their timers, untouched and still
        due. Returns how many were decided, and the claimed sends."""
        saved, moved, finished, notified = [], [], [], []
        by_warning: dict[str, list[Effects]] = defaultdict(list)
        claims: list[tuple[Claim, ChainState, int]] = []
        events: list[dict[str, Any]] = []
        grids_of: dict[int, tuple[str, ...]] = {}
        taken: Counter[str] = Counter()
        handled = 0
        for recipient in stored:
            chain = chains[recipient.warning_id]
            decision = decide(self._policy(chain), chain.lifecycle, recipient.snapshot, now)
            roster = await self._rosters.get(conn, chain.roster_id)
            view = RecipientView(
                recipient.id,
                recipient.warning_id,
                recipient.person_id,
                recipient.grid_codes,
                recipient.state,
            )
            effects = effects_of(decision, view, roster)
            wanted = Counter(c.channel for c in effects.claims)
            over_room = len(claims) + len(effects.claims) > room
            over_budget = any(taken[ch] + n > budget.get(ch, room) for ch, n in wanted.items())
            # The first recipient goes past a budget (progress), but past the window's room
            # only into an empty window (one recipient with more sends than the window):
            # a claim woken without waiting for room must not leave sends waiting for it.
            if (over_room and (handled or room < self._sender.window)) or (handled and over_budget):
                break
            taken.update(wanted)
            handled += 1
            grids_of[recipient.id] = recipient.grid_codes
            if self._metrics is not None:
                for row in effects.escalations:
                    self._metrics.escalations.labels(str(row.level)).inc()
            by_warning[chain.warning_id].append(effects)
            claims.extend((c, chain, decision.chain_revision) for c in effects.claims)
            events.extend(
                event_row(kind, chain.lifecycle.level, now=now, body=body)
                for kind, body in effects.events
            )
            if any(c.recipient_id for c in effects.claims):
                notified.append(recipient.id)
            saved.append(
                {
                    "rid": recipient.id,
                    "state": decision.state.value,
                    "cursor": decision.cursor,
                    "escalation": decision.escalation,
                    "revision": decision.revision,
                    "chain_revision": decision.chain_revision,
                }
            )
            if decision.next_due is None:
                finished.append((recipient.id, recipient.token))
            else:
                moved.append(
                    {"rid": recipient.id, "fence": recipient.token, "eta": decision.next_due}
                )
        await save_decisions(conn, saved, moved, finished)
        await mark_first_notified(conn, notified, now)
        for warning_id, effects_list in by_warning.items():
            await self._escalate(conn, warning_id, effects_list, now)
        await add_events(conn, events)
        return handled, await self._claim(conn, claims, now, grids_of=grids_of)

    async def _escalate(
        self, conn: AsyncConnection, warning_id: str, effects: list[Effects], now: datetime
    ) -> None:
        escalations = [row for e in effects for row in e.escalations]
        tasks = [task for e in effects for task in e.tasks]
        joins = [join for e in effects for join in e.summons]
        await add_escalations(conn, warning_id, escalations, now)
        task_ids = await join_tasks(conn, warning_id, tasks, now)
        await join_summons(
            conn, warning_id, joins, task_ids, now=now, gather_until=now + self._gather
        )

    async def _claim(
        self,
        conn: AsyncConnection,
        claims: list[tuple[Claim, ChainState, int]],
        now: datetime,
        summons_id: int | None = None,
        silent: tuple[str, ...] = (),
        grid_names: tuple[str, ...] = (),
        grids_of: dict[int, tuple[str, ...]] | None = None,
    ) -> list[Order]:
        """Store the claimed sends with their notices; `grids_of` gives each recipient's
        grid codes, which its texts name."""
        rows, notices = [], {}
        for claim, chain, chain_revision in claims:
            roster = await self._rosters.get(conn, chain.roster_id)
            link: tuple[Target, int] | None = None
            if summons_id is not None:
                link = ("s", summons_id)
            elif claim.recipient_id is not None:
                link = ("r", claim.recipient_id)
            full_message = claim.channel == "voice" and self._policy(chain).voice_full_message
            notice = self._notices.build(
                claim,
                warning_id=chain.warning_id,
                warning=await self._text(conn, chain),
                addressee=addressee_of(roster, claim, grids_of),
                valid_until=chain.lifecycle.expires,
                link=link,
                silent=silent,
                grid_names=grid_names,
                extra=extra_of(roster, claim, full_message=full_message),
            )
            notices[claim.key] = (notice, claim.recipient_id)
            rows.append(
                {
                    "key": claim.key,
                    "warning_id": chain.warning_id,
                    "recipient_id": claim.recipient_id,
                    "summons_id": summons_id,
                    "person_id": claim.person_id,
                    "zone_id": claim.zone_id,
                    "channel": claim.channel,
                    "kind": claim.kind.value,
                    "occasion": claim.occasion,
                    "chain_revision": chain_revision,
                    "status": "claimed",
                    "owner": self._owner,
                    "resends": 0,
                    "payload": notice_to_data(notice),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        claimed = await claim_sends(conn, rows)
        return [
            Order(attempt_id, notices[key][0], notices[key][1])
            for key, attempt_id in claimed.items()
        ]

    async def _run_summons(self) -> int:
        now = self._clock()
        orders: list[Order] = []
        async with self._db.writer.begin() as conn:
            due = await claim_due_summons(conn, now, self._batch)
            if not due:
                return 0
            chains = await load_chains(conn, {s.warning_id for s in due})
            for item in due:
                await close_summons(conn, item.id)
                orders.extend(await self._summon(conn, item, chains[item.warning_id], now))
        await self._sender.submit(orders)
        return len(due)

    async def _summon(
        self, conn: AsyncConnection, item: DueSummons, chain: ChainState, now: datetime
    ) -> list[Order]:
        """One notice to a supervisor naming every still-silent person it is about."""
        kind = NoticeKind(item.kind)
        calls_to_act = kind in (NoticeKind.ESCALATION, NoticeKind.DOOR_KNOCK, NoticeKind.GONG)
        if calls_to_act and chain.lifecycle.ended:
            return []
        roster = await self._rosters.get(conn, chain.roster_id)
        target = roster.persons.get(item.person_id)
        if target is None:
            return []
        silent: tuple[str, ...] = ()
        grid_names: tuple[str, ...] = ()
        if kind is NoticeKind.ESCALATION:
            members = [m for m in await members_of(conn, item.id) if not m.answered]
            if not members:
                return []
            silent = tuple((roster.name_of(m.person_id) or m.person_id) for m in members)
        if kind in (NoticeKind.DOOR_KNOCK, NoticeKind.GONG) and item.task_id is not None:
            grids = await task_grids(conn, item.task_id)
            grid_names = tuple(roster.grids[c].name if c in roster.grids else c for c in grids)
        claims = []
        for channel in reachable_channels(target, item.channels):
            address = address_of(target, channel)
            if address is None:
                continue
            claims.append(
                (
                    Claim(
                        key=f"s{item.id}:{channel}",
                        channel=channel,
                        kind=kind,
                        occasion=item.occasion,
                        address=address,
                        person_id=target.id,
                    ),
                    chain,
                    chain.lifecycle.chain_revision,
                )
            )
        return await self._claim(
            conn, claims, now, summons_id=item.id, silent=silent, grid_names=grid_names
        )

    def _policy(self, chain: ChainState) -> LevelPolicy:
        return level_policy(chain.warning_id, chain.lifecycle.level, chain.policy)

    async def _text(self, conn: AsyncConnection, chain: ChainState) -> WarningText:
        text = self._texts.get(chain.current_message_id)
        if text is None:
            row = await conn.execute(
                select(messages.c.parsed).where(messages.c.id == chain.current_message_id)
            )
            warning = warning_from_data(row.scalar_one())
            text = WarningText.of(warning)
            _remember(self._texts, chain.current_message_id, text)
        return text


def _remember(cache: dict[K, V], key: K, value: V) -> None:
    """Keep `value` for the warnings in progress; the oldest goes first once the cache holds
    CACHED_WARNINGS entries (a service that runs for months sees every warning once)."""
    if len(cache) >= CACHED_WARNINGS:
        del cache[next(iter(cache))]
    cache[key] = value
