"""The AMQP consumer against the real RabbitMQ and a real SQLite store.

Each test says what a producer or an operator would notice: a warning stored once and
its message gone from the queue, a bad one in `jiaoying.dead` with its reason, nothing
lost while the database is down or the service stops.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any, cast

import pytest
from aio_pika import DeliveryMode
from sqlalchemy.exc import DBAPIError

from dispatcher.amqp.consumer import Consumer
from dispatcher.amqp.topology import DEAD_QUEUE, DELIVERY_LIMIT, DISPATCH_QUEUE
from dispatcher.engine.ingest import Ingested, Ingestor, IngestOutcome, Rejected
from dispatcher.store.db import Database, open_database
from dispatcher.store.errors import is_transient
from tests.integration.conftest import (
    CAP_XML,
    JSON,
    Broker,
    BrokerLink,
    RecordingIntake,
    StartConsumer,
    bounded,
    connect,
    example,
    make_ingestor,
    rows,
    url_through,
)
from tests.waiting import eventually

RED = example("red-rainstorm.xml")
# The red alert moved to 东城区, Beijing (110101): no grid of the 陆河 roster answers for it.
UNKNOWN_AREA = (
    RED.replace(b"<value>441523100</value>", b"<value>110101</value>")
    .replace(b"<value>441523101</value>", b"<value>110101</value>")
    .replace(b"_20260720020000</identifier>", b"_20260720020001</identifier>")
)
MALFORMED = b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x</ident"


async def settled(consumer: Consumer) -> None:
    """Stop `consumer`: its channel closes, so any unacked delivery is ready again."""
    await consumer.stop(grace=2.0)
    assert consumer.in_flight == 0


@bounded(15)
async def test_an_alert_is_stored_once_and_its_message_acked(
    broker: Broker, db: Database, ingestor: Ingestor, start_consumer: StartConsumer
) -> None:
    intake = RecordingIntake(ingestor)
    consumer = await start_consumer(intake)

    await broker.publish(RED, CAP_XML, message_id="m-red")

    await eventually(lambda: intake.stored)
    assert intake.stored[0].outcome is IngestOutcome.CREATED
    warnings = await rows(db, "SELECT id, level, revision FROM warnings")
    assert [(w.level, w.revision) for w in warnings] == [("red", 0)]
    recipients = await rows(
        db, "SELECT count(*) FROM recipients WHERE warning_id = :w", w=warnings[0].id
    )
    assert recipients[0][0] > 0
    await settled(consumer)
    assert await broker.depth(DISPATCH_QUEUE) == 0  # acked, not merely delivered
    assert await broker.depth(DEAD_QUEUE) == 0


@bounded(15)
async def test_the_same_warning_delivered_twice_is_one_warning(
    broker: Broker, db: Database, ingestor: Ingestor, start_consumer: StartConsumer
) -> None:
    intake = RecordingIntake(ingestor)
    consumer = await start_consumer(intake)

    await broker.publish(RED, CAP_XML, message_id="m-1")
    await broker.publish(RED, CAP_XML, message_id="m-1-producer-retry")

    await eventually(lambda: len(intake.stored) == 2)
    assert [i.outcome for i in intake.stored] == [IngestOutcome.CREATED, IngestOutcome.DUPLICATE]
    assert len(await rows(db, "SELECT id FROM warnings")) == 1
    await settled(consumer)
    assert await broker.depth(DISPATCH_QUEUE) == 0
    assert await broker.depth(DEAD_QUEUE) == 0


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        pytest.param(MALFORMED, "", id="malformed-xml"),
        pytest.param(UNKNOWN_AREA, "unknown area", id="unknown-area"),
    ],
)
@bounded(15)
async def test_a_poison_message_is_dead_lettered_with_its_reason_and_the_queue_moves_on(
    broker: Broker,
    db: Database,
    ingestor: Ingestor,
    start_consumer: StartConsumer,
    poison: bytes,
    reason: str,
) -> None:
    intake = RecordingIntake(ingestor)
    consumer = await start_consumer(intake)

    await broker.publish(poison, CAP_XML, routing_key="cap.bad", message_id="m-poison")
    await broker.publish(RED, CAP_XML, message_id="m-good")

    await eventually(lambda: intake.stored)
    await settled(consumer)
    rejected = [o for o in intake.outcomes if isinstance(o, Rejected)]
    assert len(rejected) == 1
    assert len(await rows(db, "SELECT id FROM warnings")) == 1  # the good one went through
    assert await broker.depth(DISPATCH_QUEUE) == 0

    (dead,) = await broker.take(DEAD_QUEUE)
    assert dead.body == poison
    assert dead.content_type == CAP_XML
    assert dead.message_id == "m-poison"
    assert dead.delivery_mode == DeliveryMode.PERSISTENT
    headers = dead.headers
    assert headers["x-jiaoying-reason"] == rejected[0].error.reason
    assert reason in str(headers["x-jiaoying-reason"])
    assert headers["x-jiaoying-path"] == rejected[0].error.path
    assert headers["x-jiaoying-source-routing-key"] == "cap.bad"
    (letter,) = await rows(db, "SELECT id, source, reason, content_type FROM dead_letters")
    assert headers["x-jiaoying-dead-letter-id"] == letter.id == rejected[0].dead_letter_id
    assert (letter.source, letter.reason, letter.content_type) == (
        "amqp",
        headers["x-jiaoying-reason"],
        CAP_XML,
    )


@bounded(15)
async def test_a_json_warning_is_stored(
    broker: Broker, db: Database, ingestor: Ingestor, start_consumer: StartConsumer
) -> None:
    intake = RecordingIntake(ingestor)
    await start_consumer(intake)

    await broker.publish(example("blue-gale.json"), JSON)

    await eventually(lambda: intake.stored)
    (warning,) = await rows(db, "SELECT id, level, identifier FROM warnings")
    assert (warning.level, warning.identifier) == ("blue", "44152341600000_20260721100000")


@bounded(15)
async def test_a_message_without_content_type_is_sniffed(
    broker: Broker, db: Database, ingestor: Ingestor, start_consumer: StartConsumer
) -> None:
    intake = RecordingIntake(ingestor)
    await start_consumer(intake)

    await broker.publish(RED, None)

    await eventually(lambda: intake.stored)
    (message,) = await rows(db, "SELECT content_type, source FROM messages")
    assert (message.content_type, message.source) == ("", "amqp")


@bounded(15)
async def test_update_and_cancel_published_back_to_back_follow_their_chain_in_order(
    broker: Broker, db: Database, ingestor: Ingestor, start_consumer: StartConsumer
) -> None:
    intake = RecordingIntake(ingestor)
    consumer = await start_consumer(intake)

    # No waiting in between: the Update must still find its Alert stored.
    for name in ("red-rainstorm.xml", "red-rainstorm-update.xml", "red-rainstorm-cancel.xml"):
        await broker.publish(example(name), CAP_XML)

    await eventually(lambda: len(intake.stored) == 3)
    assert [i.outcome for i in intake.stored] == [
        IngestOutcome.CREATED,
        IngestOutcome.FOLLOWED,
        IngestOutcome.FOLLOWED,
    ]
    (warning,) = await rows(db, "SELECT id, revision, ending FROM warnings")
    assert (warning.revision, warning.ending) == (2, "cancelled")
    assert len(await rows(db, "SELECT id FROM messages WHERE warning_id = :w", w=warning.id)) == 3
    await settled(consumer)
    assert await broker.depth(DISPATCH_QUEUE) == 0
    assert await broker.depth(DEAD_QUEUE) == 0


def unavailable_database(tmp_path: Path) -> tuple[Database, Path]:
    """A database whose directory does not exist: every connection fails with
    `sqlite3.OperationalError: unable to open database file` until it is created."""
    directory = tmp_path / "down"
    database = open_database(f"sqlite+aiosqlite:///{directory}/j.db")
    directory.rmdir()  # open_database made it; no connection has been opened yet
    return database, directory


@bounded(20)
async def test_store_trouble_holds_the_message_until_the_database_is_back(
    broker: Broker, tmp_path: Path, start_consumer: StartConsumer
) -> None:
    database, directory = unavailable_database(tmp_path)
    intake = RecordingIntake(make_ingestor(database))
    consumer = await start_consumer(intake, retry_backoff_max=0.2)

    await broker.publish(RED, CAP_XML)

    await eventually(lambda: len(intake.outcomes) >= 3)
    assert not intake.stored
    assert all("OperationalError" in type(o).__name__ for o in intake.outcomes)
    assert consumer.in_flight == 1  # held: neither acked nor requeued
    assert await broker.depth(DISPATCH_QUEUE) == 0
    assert await broker.depth(DEAD_QUEUE) == 0

    directory.mkdir()
    await database.create_schema()

    await eventually(lambda: intake.stored)
    assert intake.stored[0].outcome is IngestOutcome.CREATED
    assert len(await rows(database, "SELECT id FROM warnings")) == 1
    assert await rows(database, "SELECT id FROM dead_letters") == []
    await settled(consumer)
    assert await broker.depth(DISPATCH_QUEUE) == 0
    assert await broker.depth(DEAD_QUEUE) == 0
    await database.dispose()


@bounded(20)
async def test_stop_requeues_a_message_waiting_out_store_trouble(
    broker: Broker, db: Database, ingestor: Ingestor, tmp_path: Path, start_consumer: StartConsumer
) -> None:
    database, _ = unavailable_database(tmp_path)
    waiting = RecordingIntake(make_ingestor(database))
    consumer = await start_consumer(waiting, retry_backoff_max=0.2)
    await broker.publish(RED, CAP_XML)
    await eventually(lambda: waiting.outcomes)

    started = time.monotonic()
    await consumer.stop(grace=10.0)

    assert time.monotonic() - started < 2.0  # requeued at once, not after the grace period
    assert await broker.depth(DISPATCH_QUEUE) == 1
    assert await broker.depth(DEAD_QUEUE) == 0
    assert not consumer.ready

    # The next instance finds it and stores it: requeued, not lost.
    intake = RecordingIntake(ingestor)
    await start_consumer(intake)
    await eventually(lambda: intake.stored)
    assert len(await rows(db, "SELECT id FROM warnings")) == 1
    await database.dispose()


@bounded(20)
async def test_stop_lets_an_ingest_in_progress_finish_within_the_grace_period(
    broker: Broker, db: Database, ingestor: Ingestor, tmp_path: Path, start_consumer: StartConsumer
) -> None:
    intake = RecordingIntake(ingestor)
    consumer = await start_consumer(intake)
    # Another writer holds SQLite's write lock: the ingest waits in BEGIN IMMEDIATE.
    blocker = sqlite3.connect(tmp_path / "j.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        await broker.publish(RED, CAP_XML)
        await eventually(lambda: consumer.in_flight == 1)

        stopping = asyncio.create_task(consumer.stop(grace=10.0))
        await asyncio.sleep(0.5)
        assert not stopping.done()  # waiting for the handler
        blocker.execute("ROLLBACK")
        await stopping
    finally:
        blocker.close()

    assert [i.outcome for i in intake.stored] == [IngestOutcome.CREATED]
    assert await broker.depth(DISPATCH_QUEUE) == 0  # acked before the channel closed


class Bug:
    """An intake with a bug: every ingest raises."""

    def __init__(self) -> None:
        self.calls = 0

    async def ingest(self, body: bytes, content_type: str, source: str) -> Ingested:
        self.calls += 1
        raise RuntimeError("a bug in ingest")


@bounded(15)
async def test_a_bug_requeues_until_the_delivery_limit_dead_letters_the_message(
    broker: Broker, start_consumer: StartConsumer
) -> None:
    bug = Bug()
    consumer = await start_consumer(bug)

    await broker.publish(RED, CAP_XML, message_id="m-bug")

    await eventually(lambda: broker.depth(DEAD_QUEUE))
    (dead,) = await broker.take(DEAD_QUEUE)
    assert dead.message_id == "m-bug"
    assert "x-jiaoying-reason" not in dead.headers  # the broker's dead letter, not ours
    (death,) = cast(list[dict[str, Any]], dead.headers["x-death"])
    assert death["reason"] == "delivery_limit"
    assert death["queue"] == DISPATCH_QUEUE
    assert bug.calls == DELIVERY_LIMIT + 1
    await settled(consumer)
    assert await broker.depth(DISPATCH_QUEUE) == 0


@bounded(15)
async def test_readiness_and_lag(broker: Broker, ingestor: Ingestor) -> None:
    intake = RecordingIntake(ingestor)
    consumer = Consumer(broker.connection, intake)
    assert not consumer.ready
    await broker.publish(RED, CAP_XML)
    await broker.publish(example("blue-gale.json"), JSON)
    assert await consumer.consumer_lag() == 2

    await consumer.start()
    try:
        assert consumer.ready
        await eventually(lambda: len(intake.stored) == 2)
        assert await consumer.consumer_lag() == 0
        assert consumer.in_flight == 0
    finally:
        await consumer.stop(grace=1.0)
    assert not consumer.ready


def _sqlite_error(tmp_path: Path, case: str) -> sqlite3.Error:
    """Provoke a real sqlite3 error of the kind named by `case`."""
    path = tmp_path / "e.db"
    try:
        if case == "cannot-open":
            sqlite3.connect(tmp_path / "missing" / "e.db")
        elif case == "locked":
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            sqlite3.connect(path, timeout=0, isolation_level=None).execute("BEGIN IMMEDIATE")
        elif case == "syntax":
            sqlite3.connect(path).execute("SELEC 1")
        elif case == "unique":
            conn = sqlite3.connect(path)
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("INSERT INTO t VALUES (1)")
    except sqlite3.Error as error:
        return error
    raise AssertionError(f"{case} raised nothing")


@pytest.mark.parametrize(
    ("case", "transient"),
    [("cannot-open", True), ("locked", True), ("syntax", False), ("unique", False)],
)
def test_store_trouble_is_told_from_a_bug(tmp_path: Path, case: str, transient: bool) -> None:
    orig = _sqlite_error(tmp_path, case)
    wrapped = DBAPIError.instance("SELECT 1", {}, orig, sqlite3.Error)
    assert is_transient(wrapped) is transient
    assert is_transient(ConnectionRefusedError()) is True
    assert is_transient(RuntimeError("a bug")) is False


@bounded(20)
async def test_consuming_resumes_after_the_broker_connection_comes_back(
    broker: Broker, db: Database, ingestor: Ingestor, link: BrokerLink
) -> None:
    connection = await connect(url_through(link))
    intake = RecordingIntake(ingestor)
    consumer = Consumer(connection, intake)
    await consumer.start()
    try:
        await link.cut()
        await eventually(lambda: not consumer.ready)
        await broker.publish(RED, CAP_XML)  # straight to the broker: producers are fine
        await asyncio.sleep(0.5)
        assert not intake.outcomes

        await link.up()
        await eventually(lambda: intake.stored, within=8.0)
        await eventually(lambda: consumer.ready)
        assert len(await rows(db, "SELECT id FROM warnings")) == 1
    finally:
        await consumer.stop(grace=1.0)
        await connection.close()
    assert await broker.depth(DISPATCH_QUEUE) == 0
