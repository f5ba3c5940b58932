"""The roster in force, the versions running warnings were planned with, and taking a new
one without a restart.

Each warning stores the digest of the roster it was planned against, so its escalations
follow the supervisor chains it started with even after the roster is replaced. A new
roster (SIGHUP, `POST /v1/roster/reload`) is read again from the configured place and
checked whole first: a bad one, or the example roster while a provider is real, leaves
the roster in force as it is; a good one applies to warnings that arrive after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.canonical import roster_digest, roster_json
from dispatcher.core.errors import InputError, RosterError
from dispatcher.core.phones import mask_phones_in_text
from dispatcher.core.roster import Person, Roster
from dispatcher.engine.example_roster import refuse_example_roster
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import Settings
from dispatcher.store.db import Database, JSONText
from dispatcher.store.intake import audit_row
from dispatcher.store.roster_versions import ensure_roster, read_roster
from dispatcher.store.schema import audit

log = structlog.get_logger("jiaoying.roster")


@dataclass(frozen=True, slots=True)
class RosterVersion:
    """A roster as the service took it: its content digest, where from, and when."""

    roster: Roster
    digest: str
    source: str
    loaded_at: datetime


class Outcome(StrEnum):
    LOADED = "loaded"  # a new roster is in force
    UNCHANGED = "unchanged"  # the same content as the roster in force
    REFUSED = "refused"  # the roster in force stays; `problems` says why


@dataclass(frozen=True, slots=True)
class ReloadAttempt:
    """One try at taking the roster again: when, asked by whom, from where, and what
    became of it (a refused one lists every problem found, phone numbers masked)."""

    at: datetime
    by: str
    source: str
    outcome: Outcome
    digest: str | None = None
    problems: tuple[str, ...] = ()


class RosterBook:
    """The roster in force (`in_force`), and every version a warning may still need."""

    def __init__(
        self, current: Roster, *, source: str = "", loaded_at: datetime | None = None
    ) -> None:
        digest = roster_digest(current)
        loaded_at = loaded_at or datetime.min.replace(tzinfo=UTC)
        self.in_force = RosterVersion(current, digest, source, loaded_at)
        self.last_reload: ReloadAttempt | None = None
        self._known: dict[str, Roster] = {digest: current}
        self._stored: set[str] = set()

    @property
    def current(self) -> Roster:
        return self.in_force.roster

    @property
    def current_id(self) -> str:
        return self.in_force.digest

    def replace(self, version: RosterVersion) -> None:
        """Put `version` in force: warnings planned from now on use it."""
        self._known[version.digest] = version.roster
        self.in_force = version

    def persons_with_phone(self, phone: str) -> tuple[Person, ...]:
        """The persons whose number is `phone` in the roster in force; failing that, in
        an earlier version still held (a person dropped or renumbered by a reload may be
        answering a warning that was planned before it)."""
        found = self.current.persons_with_phone(phone)
        if found:
            return found
        earlier = {
            person.id: person
            for digest, roster in self._known.items()
            if digest != self.current_id
            for person in roster.persons_with_phone(phone)
        }
        return tuple(earlier[person_id] for person_id in sorted(earlier))

    async def ensure_stored(self, conn: AsyncConnection, version: RosterVersion) -> None:
        """Store `version`'s snapshot once (inside the caller's transaction)."""
        if version.digest not in self._stored:
            # Written as JSON text directly: as dicts first, a province's roster would
            # cost hundreds of MB more, for this once.
            body = JSONText(roster_json(version.roster))
            await ensure_roster(conn, version.digest, body, version.loaded_at)
            self._stored.add(version.digest)

    def stored(self, digest: str) -> None:
        """Note that the snapshot `digest` is in the store already."""
        self._stored.add(digest)

    async def get(self, conn: AsyncConnection, roster_id: str) -> Roster:
        """The roster version `roster_id`; raises KeyError if it was never stored."""
        roster = self._known.get(roster_id)
        if roster is None:
            roster = await read_roster(conn, roster_id)
            if roster is None:
                raise KeyError(roster_id)
            self._known[roster_id] = roster
        return roster


class RosterReload:
    """Takes the roster again from `JIAOYING_ROSTER_DIR`, one reload at a time."""

    def __init__(
        self, book: RosterBook, db: Database, settings: Settings, clock: Callable[[], datetime]
    ) -> None:
        self._book = book
        self._db = db
        self._settings = settings
        self._clock = clock
        self._lock = asyncio.Lock()

    async def reload(self, *, by: str) -> ReloadAttempt:
        """Read, check and put in force the roster at the configured place, asked `by`
        (an API token's name, or SIGHUP); what became of it, also kept as the book's
        `last_reload`. Never raises for a bad roster: the roster in force stays."""
        async with self._lock:
            source = self._settings.roster_dir
            at = self._clock()
            try:
                # Off the event loop: a county's roster takes a second or two to read.
                roster, digest, snapshot = await asyncio.to_thread(self._read, source)
            except (InputError, OSError) as error:
                attempt = ReloadAttempt(
                    at, by, str(source), Outcome.REFUSED, None, _problems(error)
                )
            else:
                unchanged = digest == self._book.current_id
                outcome = Outcome.UNCHANGED if unchanged else Outcome.LOADED
                attempt = ReloadAttempt(at, by, str(source), outcome, digest)
                if not unchanged:
                    # Stored before it is in force: no warning is planned on it meanwhile.
                    await self._store(digest, snapshot, at)
                    self._book.replace(RosterVersion(roster, digest, str(source), at))
            self._book.last_reload = attempt
            await self._audit(attempt)
            _log(attempt, self._book.in_force)
            return attempt

    def _read(self, source: Path) -> tuple[Roster, str, JSONText]:
        roster = load_roster(source)
        digest = roster_digest(roster)
        refuse_example_roster(self._settings, source, roster, digest)
        return roster, digest, JSONText(roster_json(roster))

    async def _store(self, digest: str, snapshot: JSONText, at: datetime) -> None:
        """The new version's snapshot, written now rather than with the next warning: the
        JSON was made off the event loop. A store that fails here is only a delay: the
        next warning planned on this version stores it (`ensure_stored`)."""
        try:
            async with self._db.writer.begin() as conn:
                await ensure_roster(conn, digest, snapshot, at)
        except Exception:  # the roster is in force; storing its snapshot can wait
            log.warning("roster snapshot not stored yet; the next warning stores it")
        else:
            self._book.stored(digest)

    async def _audit(self, attempt: ReloadAttempt) -> None:
        row = audit_row(
            f"roster_{attempt.outcome.value}",
            now=attempt.at,
            actor=attempt.by,
            source=attempt.source,
            digest=attempt.digest,
            problems=len(attempt.problems),
        )
        try:
            async with self._db.writer.begin() as conn:
                await conn.execute(audit.insert(), [row])
        except Exception:  # the log line below keeps the attempt when the store cannot
            log.warning("roster reload not written to the audit log")


def _problems(error: InputError | OSError) -> tuple[str, ...]:
    if isinstance(error, RosterError):
        lines: tuple[str, ...] = error.problems
    elif isinstance(error, OSError):
        lines = (f"{error.filename or ''}: cannot be read ({error.strerror or error})",)
    else:
        lines = (str(error),)
    return tuple(mask_phones_in_text(line) for line in lines)


def _log(attempt: ReloadAttempt, in_force: RosterVersion) -> None:
    if attempt.outcome is Outcome.REFUSED:
        log.error(
            "roster reload refused; the roster in force stays",
            source=attempt.source,
            by=attempt.by,
            problems=list(attempt.problems),
            in_force=in_force.digest[:12],
        )
        return
    log.info(
        "roster reloaded" if attempt.outcome is Outcome.LOADED else "roster reloaded, unchanged",
        source=attempt.source,
        by=attempt.by,
        digest=in_force.digest[:12],
        grids=len(in_force.roster.grids),
        persons=len(in_force.roster.persons),
    )
