"""The one ingest path behind AMQP and HTTP: parse, plan, store — or dead-letter with a reason.

`Ingestor.ingest` returns only after the warning and its dispatch plan are committed
(guarantee 1); a duplicate (same sender, identifier and sent) is recognised and not
dispatched again (guarantee 2). Bad input raises `Rejected` after the dead letter is
recorded; store trouble propagates unchanged, so the caller can retry (AMQP requeue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog

from dispatcher.core.content_type import parse_warning
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.lifecycle import advance
from dispatcher.core.model import MsgType, Warning, with_level
from dispatcher.core.plan import plan_alert, recipients_of, resolve_or_reject, settle_level
from dispatcher.core.policy import Policy, policy_to_data
from dispatcher.engine.roster_book import RosterBook
from dispatcher.runtime.metrics import Metrics
from dispatcher.store.db import Database
from dispatcher.store.intake import (
    Received,
    add_recipients,
    find_chain,
    find_message,
    insert_chain,
    insert_message,
    new_warning_id,
    record_audit,
    record_dead_letter,
    update_chain,
    wake_chain,
)
from dispatcher.store.outbox import enqueue_event

log = structlog.get_logger("jiaoying.ingest")

MAX_BODY = 1_000_000


class IngestOutcome(StrEnum):
    CREATED = "created"  # a new warning chain, dispatch planned
    FOLLOWED = "followed"  # an Update or Cancel applied to its chain
    DUPLICATE = "duplicate"  # seen before: nothing dispatched again


@dataclass(frozen=True, slots=True)
class Ingested:
    warning_id: str
    outcome: IngestOutcome
    msg_type: MsgType
    recipients_added: int = 0


class Rejected(Exception):
    """Bad input, recorded as dead letter `dead_letter_id`; `error` says what and where."""

    def __init__(self, error: InvalidWarning, dead_letter_id: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.dead_letter_id = dead_letter_id


class Ingestor:
    def __init__(
        self,
        db: Database,
        rosters: RosterBook,
        policy: Policy,
        clock: Callable[[], datetime],
        on_stored: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._rosters = rosters
        self._policy = policy
        self._clock = clock
        self._on_stored = on_stored
        self._metrics = metrics

    async def ingest(self, body: bytes, content_type: str, source: str) -> Ingested:
        """Store the warning in `body`; raises Rejected for bad input (already dead-lettered)."""
        try:
            warning = parse_warning(body, content_type, max_bytes=MAX_BODY)
        except InvalidWarning as error:
            raise await self._reject(error, body, content_type, source, None) from None
        try:
            settled = settle_level(warning, self._policy.default_level)
        except InvalidWarning as error:
            raise await self._reject(error, body, content_type, source, warning) from None
        if settled is not warning:
            log.info(
                "warning level from the policy's default_level",
                identifier=warning.identifier,
                level=settled.level.value if settled.level else None,
            )
        warning = settled
        received = Received(warning, body, content_type, source, warning_to_data(warning))
        try:
            ingested = await self._store(received)
        except InvalidWarning as error:
            raise await self._reject(error, body, content_type, source, warning) from None
        log.info(
            "warning ingested",
            warning_id=ingested.warning_id,
            outcome=ingested.outcome.value,
            msg_type=warning.msg_type.value,
            identifier=warning.identifier,
            source=source,
            recipients_added=ingested.recipients_added,
        )
        if ingested.outcome is not IngestOutcome.DUPLICATE:
            self._on_stored()
        if self._metrics is not None:
            level = warning.level.value if warning.level else "none"
            self._metrics.warnings.labels(level, ingested.outcome.value, source).inc()
        return ingested

    async def _store(self, received: Received) -> Ingested:
        warning = received.warning
        plan = None
        # Taken once: a reload may put another roster in force while this one is stored.
        version = self._rosters.in_force
        if warning.msg_type is MsgType.ALERT:
            plan = plan_alert(warning, version.roster, self._policy)
        now = self._clock()
        async with self._db.writer.begin() as conn:
            seen = await find_message(conn, warning.key)
            if seen is not None:
                return Ingested(seen, IngestOutcome.DUPLICATE, warning.msg_type)
            if plan is None:
                return await self._follow(conn, received, now)
            await self._rosters.ensure_stored(conn, version)
            warning_id = new_warning_id()
            await insert_chain(
                conn,
                warning_id,
                received,
                plan.lifecycle,
                roster_id=version.digest,
                policy=policy_to_data(self._policy),
                grids=[grid.code for grid in plan.resolution.grids],
                unmatched=plan.resolution.unmatched,
                now=now,
            )
            added = await add_recipients(conn, warning_id, plan.recipients, plan.lifecycle, eta=now)
            await record_audit(
                conn,
                "ingested",
                now=now,
                warning_id=warning_id,
                source=received.source,
                msg_type=warning.msg_type.value,
                recipients=added,
                grids=len(plan.resolution.grids),
            )
            await enqueue_event(
                conn,
                "summary",
                plan.lifecycle.level,
                now=now,
                body=_summary(warning_id, warning, "planned", recipients=added),
            )
            return Ingested(warning_id, IngestOutcome.CREATED, warning.msg_type, added)

    async def _follow(self, conn: Any, received: Received, now: datetime) -> Ingested:
        warning = received.warning
        chain = await find_chain(conn, warning.references)
        if chain is None:
            raise InvalidWarning(
                "references no warning jiaoying knows (sender,identifier,sent)",
                "alert/references",
            )
        if warning.msg_type is MsgType.UPDATE and warning.level is None:
            # An Update that states no level keeps the level of the warning it updates.
            warning = with_level(warning, chain.lifecycle.level)
            received = replace(received, warning=warning, parsed=warning_to_data(warning))
        lifecycle = advance(chain.lifecycle, warning)
        await update_chain(conn, chain.warning_id, warning, lifecycle)
        await insert_message(conn, chain.warning_id, received, lifecycle.revision, now)
        added = 0
        if not lifecycle.ended and warning.areas:
            roster = await self._rosters.get(conn, chain.roster_id)
            resolution = resolve_or_reject(warning, roster)
            added = await add_recipients(
                conn, chain.warning_id, recipients_of(resolution), lifecycle, eta=now
            )
        await wake_chain(conn, chain.warning_id, now)
        await record_audit(
            conn,
            lifecycle.change.value,
            now=now,
            warning_id=chain.warning_id,
            source=received.source,
            msg_type=warning.msg_type.value,
            revision=lifecycle.revision,
            recipients_added=added,
        )
        await enqueue_event(
            conn,
            "summary",
            lifecycle.level,
            now=now,
            body=_summary(chain.warning_id, warning, lifecycle.change.value, recipients=added),
        )
        return Ingested(chain.warning_id, IngestOutcome.FOLLOWED, warning.msg_type, added)

    async def _reject(
        self,
        error: InvalidWarning,
        body: bytes,
        content_type: str,
        source: str,
        warning: Warning | None,
    ) -> Rejected:
        now = self._clock()
        async with self._db.writer.begin() as conn:
            dead_letter_id = await record_dead_letter(
                conn,
                now=now,
                source=source,
                content_type=content_type,
                body=body,
                reason=error.reason,
                path=error.path,
                key=(warning.sender, warning.identifier) if warning else None,
            )
        if self._metrics is not None:
            level = warning.level.value if warning and warning.level else "none"
            self._metrics.warnings.labels(level, "rejected", source).inc()
        log.warning(
            "warning rejected",
            reason=error.reason,
            path=error.path,
            source=source,
            dead_letter_id=dead_letter_id,
            size=len(body),
        )
        return Rejected(error, dead_letter_id)


def _summary(warning_id: str, warning: Warning, reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "warning_id": warning_id,
        "identifier": warning.identifier,
        "sender": warning.sender,
        "msg_type": warning.msg_type.value,
        "drill": warning.drill,
        "reason": reason,
        **extra,
    }
