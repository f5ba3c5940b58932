"""The tables. SQLAlchemy Core, portable between SQLite (one county) and PostgreSQL (replicas).

Timers are rows, not sleeping coroutines: `timers.eta` says when a recipient's chain must
be looked at again, and `timers.token` fences a decision against a concurrent answer.
Every send is an `attempts` row claimed before the provider is called (guarantee 3).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware in, timezone-aware out, stored as UTC (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for big tables.
Serial = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

roster_snapshots = Table(
    "roster_snapshots",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the canonical roster
    Column("loaded_at", UTCDateTime, nullable=False),
    Column("body", JSON, nullable=False),
)

warnings = Table(
    "warnings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("identifier", String(255), nullable=False),
    Column("sender", String(255), nullable=False),
    Column("sent", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("event", Text, nullable=False),
    Column("headline", Text, nullable=False),
    Column("level", String(8), nullable=False),
    Column("drill", Boolean, nullable=False),
    Column("clock_start", UTCDateTime, nullable=False),
    Column("expires", UTCDateTime),
    Column("revision", Integer, nullable=False),
    Column("chain_revision", Integer, nullable=False),
    Column("change", String(16), nullable=False),
    Column("ending", String(16)),
    Column("current_message_id", Serial),
    Column("roster_id", String(64), ForeignKey("roster_snapshots.id"), nullable=False),
    Column("policy", JSON, nullable=False),  # the level policy in force, frozen at ingest
    Column("grids", JSON, nullable=False),
    Column("unmatched_areas", JSON, nullable=False),
    Column("closed_at", UTCDateTime),  # every chain ended: answered, escalated to the end, …
    Index("ix_warnings_received", "received_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("warning_id", String(32), ForeignKey("warnings.id"), nullable=False),
    Column("sender", String(255), nullable=False),
    Column("identifier", String(255), nullable=False),
    Column("sent", UTCDateTime, nullable=False),
    Column("msg_type", String(8), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("parsed", JSON, nullable=False),
    UniqueConstraint("sender", "identifier", "sent", name="uq_messages_key"),
    Index("ix_messages_identifier", "identifier"),
)

recipients = Table(
    "recipients",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("warning_id", String(32), ForeignKey("warnings.id"), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("grid_codes", JSON, nullable=False),
    Column("addresses", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("cursor", Integer, nullable=False, default=0),
    Column("escalation", Integer, nullable=False, default=0),
    Column("revision", Integer, nullable=False, default=0),
    Column("chain_revision", Integer, nullable=False, default=0),
    Column("first_notified_at", UTCDateTime),
    Column("answered_at", UTCDateTime),
    Column("note", Text),
    UniqueConstraint("warning_id", "person_id", name="uq_recipients_person"),
    # An SMS reply names a number, not a warning: its person's open chains are found here.
    Index("ix_recipients_person", "person_id"),
)

timers = Table(
    "timers",
    metadata,
    Column("recipient_id", Serial, ForeignKey("recipients.id"), primary_key=True),
    Column("eta", UTCDateTime, nullable=False),
    Column("token", Integer, nullable=False, default=0),
    # The recipient's warning, copied: the scheduler claims due timers warning by warning
    # (a lane each, the highest level first), and finds the lanes through this index.
    Column("warning_id", String(32), nullable=False),
    Index("ix_timers_eta", "eta"),
    Index("ix_timers_lane", "warning_id", "eta"),
)

summons = Table(
    "summons",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("warning_id", String(32), ForeignKey("warnings.id"), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("occasion", String(32), nullable=False),
    Column("channels", JSON, nullable=False),
    Column("batch", Integer, nullable=False),
    Column("eta", UTCDateTime),  # gathering until eta; NULL once sent
    Column("created_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime),
    Column("task_id", Serial),
    UniqueConstraint("warning_id", "person_id", "kind", "occasion", "batch", name="uq_summons"),
    Index("ix_summons_eta", "eta"),
)

escalations = Table(
    "escalations",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("warning_id", String(32), ForeignKey("warnings.id"), nullable=False),
    Column("recipient_id", Serial, ForeignKey("recipients.id"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("occasion", String(32), nullable=False),
    Column("target_id", String(64)),  # NULL: the chain has no supervisor at all
    Column("summons_id", Serial, ForeignKey("summons.id")),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("recipient_id", "occasion", name="uq_escalations_step"),
    Index("ix_escalations_target", "target_id"),  # whom a supervisor's answer closes
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("warning_id", String(32), ForeignKey("warnings.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("assignee_id", String(64)),
    Column("occasion", String(32), nullable=False),
    Column("grid_codes", JSON, nullable=False),
    Column("status", String(8), nullable=False),  # open / done
    Column("created_at", UTCDateTime, nullable=False),
    Column("reported_at", UTCDateTime),
    Column("report", JSON),
    UniqueConstraint("warning_id", "assignee_id", "occasion", name="uq_tasks_assignment"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("key", String(160), nullable=False, unique=True),
    Column("warning_id", String(32), ForeignKey("warnings.id"), nullable=False),
    Column("recipient_id", Serial, ForeignKey("recipients.id")),
    Column("summons_id", Serial, ForeignKey("summons.id")),
    Column("person_id", String(64)),
    Column("zone_id", String(64)),
    Column("channel", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("occasion", String(32), nullable=False),
    Column("chain_revision", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False),
    Column("provider_id", String(128)),
    Column("error_reason", String(32)),
    Column("error_detail", Text),
    Column("owner", String(64)),
    Column("resends", Integer, nullable=False, default=0),
    Column("payload", JSON, nullable=False),  # the rendered notice, so a crash can resend it
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_attempts_recipient", "recipient_id"),
    Index("ix_attempts_provider", "provider_id"),
    Index("ix_attempts_status", "status"),
)

answers = Table(
    "answers",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("warning_id", String(32), ForeignKey("warnings.id"), nullable=False),
    Column("recipient_id", Serial, ForeignKey("recipients.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("via", String(16), nullable=False),  # sms, voice, link, operator, supervisor, door_knock
    Column("by", String(64), nullable=False),  # person id, supervisor id or operator token name
    Column("how", String(32)),
    Column("chain_revision", Integer, nullable=False),
    Column("detail", Text),
    Index("ix_answers_recipient", "recipient_id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("path", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("excerpt", LargeBinary, nullable=False),  # the first bytes only: bodies can be hostile
    Column("sender", String(255)),
    Column("identifier", String(255)),
    Column("warning_id", String(32)),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("warning_id", String(32)),
    Column("recipient_id", Serial),
    Column("event", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_warning", "warning_id", "id"),
)

instances = Table(
    "instances",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("routing_key", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
    Index("ix_outbox_pending", "published_at", "id"),
)

# Provider callbacks that were taken, so that a genuine one replayed later is refused:
# an inbound SMS by its MessageSid, a key press by call, send key and digits (Twilio signs
# no timestamp, so these are kept), a WeChat push by its signed timestamp and nonce
# (forgotten once the timestamp is out of the accepted window).
callback_receipts = Table(
    "callback_receipts",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_callback_receipts_seen", "kind", "seen_at"),
)

# Each drill's figures, kept so a county sees its drills of one roster side by side
# (written when its report is made, again if it is made later with more records). No
# foreign key: a drill runs in a store of its own, and one database may keep the figures
# of the drills of many runs.
drill_figures = Table(
    "drill_figures",
    metadata,
    Column("warning_id", String(32), primary_key=True),
    Column("roster_id", String(64), nullable=False),
    Column("identifier", String(255), nullable=False),
    Column("headline", Text, nullable=False),
    Column("level", String(8), nullable=False),
    Column("clock_start", UTCDateTime, nullable=False),
    Column("answer_within_s", Float, nullable=False),
    Column("grids", Integer, nullable=False),
    Column("grids_met", Integer, nullable=False),
    Column("grids_missed", Integer, nullable=False),
    Column("persons", Integer, nullable=False),
    Column("never_reached", Integer, nullable=False),
    Column("all_settled_s", Float),  # NULL: some grid never answered nor was on its way
    Column("made_at", UTCDateTime, nullable=False),
    Index("ix_drill_figures_roster", "roster_id", "made_at"),
)
