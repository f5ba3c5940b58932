"""The composition root: settings → store → roster and policy → channels → engine → AMQP.

Each dependency is an aiohttp cleanup context, so startup runs in order and shutdown in
reverse: on SIGTERM the AMQP consumer stops taking warnings first, the scheduler stops
claiming, the sends in flight drain within the grace period, their results are written,
and the store closes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aio_pika
import structlog
from aiohttp import web
from sqlalchemy.exc import DBAPIError

from channels.base import Channel
from dispatcher.amqp.consumer import Consumer
from dispatcher.amqp.events import EventPublisher
from dispatcher.core.errors import InputError
from dispatcher.core.links import AnswerLinks, url_length
from dispatcher.core.policy import Policy
from dispatcher.core.roster import Roster
from dispatcher.engine.example_roster import refuse_example_roster
from dispatcher.engine.ingest import MAX_BODY, Ingestor
from dispatcher.engine.maintenance import Maintenance, gauges
from dispatcher.engine.notices import NoticeFactory
from dispatcher.engine.replies import Replies
from dispatcher.engine.results import ResultWriter
from dispatcher.engine.roster_book import RosterBook, RosterReload
from dispatcher.engine.scheduler import Scheduler
from dispatcher.engine.sender import ChannelLimits, Sender
from dispatcher.engine.texts import Texts
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.http.aliyun_callbacks import add_aliyun_routes
from dispatcher.http.answer_page import add_answer_routes
from dispatcher.http.auth import SETTINGS
from dispatcher.http.broadcast_callbacks import add_broadcast_routes
from dispatcher.http.dashboard import add_dashboard_routes
from dispatcher.http.health import PROBES, healthz, readyz
from dispatcher.http.keys import REPLIES, ROSTER_RELOAD, ROSTERS
from dispatcher.http.limits import body_limits
from dispatcher.http.problems import json_errors
from dispatcher.http.prometheus import METRICS, get_metrics
from dispatcher.http.ratelimit import RateLimit
from dispatcher.http.roster_endpoints import add_roster_routes
from dispatcher.http.status import CLOCK, READER, add_status_routes
from dispatcher.http.tencent_callbacks import add_tencent_routes
from dispatcher.http.twilio_callbacks import add_twilio_routes
from dispatcher.http.warnings_endpoint import INGESTOR, post_warning
from dispatcher.http.wechat_callbacks import add_wechat_routes
from dispatcher.providers import build_providers, check_provider_templates
from dispatcher.runtime.heap import settle_heap
from dispatcher.runtime.logs import configure_logging, redact_url
from dispatcher.runtime.metrics import Metrics
from dispatcher.runtime.settings import Settings
from dispatcher.store import migrate
from dispatcher.store.db import Database, open_database

log = structlog.get_logger("jiaoying.service")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Engine:
    """The running parts, shared by the HTTP routes and the background loops."""

    db: Database
    rosters: RosterBook
    roster_reload: RosterReload
    ingestor: Ingestor
    scheduler: Scheduler
    sender: Sender
    results: ResultWriter
    maintenance: Maintenance
    owner: str
    metrics: Metrics


ENGINE = web.AppKey("engine", Engine)
MAINTENANCE_INTERVAL = 2.0


def build_app(
    settings: Settings,
    roster: Roster,
    policy: Policy,
    *,
    clock: Clock = utc_now,
    channels: Callable[[], dict[str, Channel]] | None = None,
    schema: Literal["upgrade", "check"] = "upgrade",
) -> web.Application:
    """The service as an aiohttp application; run it with `web.run_app` or a test client.

    `schema="check"` refuses to start on a database not at this code's schema revision
    (what `serve` does); "upgrade" migrates it first (tests, one-process setups).
    `channels` replaces the providers the settings configure (tests, benchmarks).
    """
    # Ingest takes up to MAX_BODY (its handler refuses more); every other route far less.
    app = web.Application(
        client_max_size=MAX_BODY + 1,
        middlewares=[json_errors, body_limits(own_limit={("POST", "/v1/warnings")})],
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[PROBES] = {}
    app.cleanup_ctx.append(_store(settings, schema))
    app.cleanup_ctx.append(_engine(settings, roster, policy, clock, channels))
    app.cleanup_ctx.append(_loops(settings))
    app.cleanup_ctx.append(_amqp(settings, clock))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/v1/warnings", post_warning)
    app.router.add_get("/metrics", get_metrics)
    add_status_routes(app)
    add_answer_routes(
        app,
        _links(settings),
        str(settings.templates_dir),
        clock,
        RateLimit(settings.answer_rate, settings.trusted_proxies),
    )
    add_twilio_routes(app)
    add_aliyun_routes(app)
    add_tencent_routes(app)
    add_wechat_routes(app)
    add_broadcast_routes(app)
    add_dashboard_routes(app)
    add_roster_routes(app)
    return app


def _store(
    settings: Settings, schema: Literal["upgrade", "check"]
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        db = open_database(settings.db_url)
        try:
            if schema == "upgrade":
                await migrate.upgrade(db)
            await migrate.check(db)
        except BaseException:
            await db.dispose()
            raise
        app[PROBES]["store"] = db.ping
        app[_DB] = db
        app[READER] = db
        yield
        await db.dispose()

    return context


_DB = web.AppKey("database", Database)


def _engine(
    settings: Settings,
    roster: Roster,
    policy: Policy,
    clock: Clock,
    channels: Callable[[], dict[str, Channel]] | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        db = app[_DB]
        providers = None
        if channels is None:
            providers = build_providers(settings)
            adapters = providers.channels
        else:
            adapters = channels()
        owner = f"{uuid.uuid4().hex[:12]}"
        rosters = RosterBook(roster, source=str(settings.roster_dir), loaded_at=clock())
        metrics = Metrics()
        scheduler: Scheduler  # bound below; results wake it when a send fails for good
        results = ResultWriter(
            db, clock, on_wake=lambda: scheduler.wake(), on_result=metrics.send_result
        )
        sender = Sender(
            adapters,
            results.record,
            window=settings.send_window,
            limits={
                name: ChannelLimits(per_second=rate) for name, rate in settings.send_rates.items()
            },
        )
        scheduler = Scheduler(
            db,
            rosters,
            NoticeFactory(
                Texts(settings.templates_dir, link_length=url_length(settings.public_url)),
                _links(settings),
                clock,
            ),
            sender,
            clock,
            owner=owner,
            metrics=metrics,
        )
        maintenance = Maintenance(
            db, sender, clock, owner=owner, stale_after=timedelta(seconds=settings.peer_timeout)
        )
        ingestor = Ingestor(db, rosters, policy, clock, on_stored=scheduler.wake, metrics=metrics)
        app[REPLIES] = Replies(db, rosters, clock, scheduler.wake, metrics)
        engine = Engine(
            db,
            rosters,
            RosterReload(rosters, db, settings, clock),
            ingestor,
            scheduler,
            sender,
            results,
            maintenance,
            owner,
            metrics,
        )
        app[METRICS] = metrics
        app[ENGINE] = engine
        app[ROSTERS] = rosters
        app[ROSTER_RELOAD] = engine.roster_reload
        app[INGESTOR] = ingestor
        await maintenance.beat()
        yield
        if providers is not None:
            await providers.close()

    return context


def _links(settings: Settings) -> AnswerLinks | None:
    if settings.link_secret is None:
        return None
    return AnswerLinks(settings.link_secret.get_secret_value().encode(), settings.public_url)


def _loops(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        engine = app[ENGINE]
        results = asyncio.create_task(engine.results.run(), name="results")
        scheduler = asyncio.create_task(engine.scheduler.run(), name="scheduler")
        stop_upkeep = asyncio.Event()
        upkeep = asyncio.create_task(
            _upkeep(engine.maintenance, engine.db, engine.metrics, stop_upkeep),
            name="maintenance",
        )
        yield
        # Each loop is asked to stop between transactions; only one that does not within
        # the grace period is cancelled (a task cancelled mid-transaction could leave
        # SQLite's write lock held).
        engine.scheduler.stop()
        stop_upkeep.set()
        await _finish(scheduler, settings.shutdown_grace)
        await _finish(upkeep, settings.shutdown_grace)
        drained = await engine.sender.drain(settings.shutdown_grace)
        if not drained:
            log.warning("shutdown grace ran out with sends in flight; they will be resent")
        engine.results.stop()
        await _finish(results, settings.shutdown_grace)
        if drained:
            await engine.maintenance.leave()

    return context


def _amqp(settings: Settings, clock: Clock) -> Callable[[web.Application], AsyncIterator[None]]:
    """RabbitMQ last in, first out: on shutdown no new warning is taken while work drains."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if settings.amqp_url is None:
            yield
            return
        engine = app[ENGINE]
        connection = await aio_pika.connect_robust(
            settings.amqp_url, client_properties={"connection_name": f"jiaoying-{engine.owner}"}
        )
        publisher = EventPublisher(connection, engine.db, clock)
        publishing = asyncio.create_task(publisher.run(), name="events")
        consumer = Consumer(connection, engine.ingestor)
        await consumer.start()

        async def broker_ready() -> None:
            if not consumer.ready:
                raise ConnectionError("not consuming from RabbitMQ")

        app[PROBES]["broker"] = broker_ready
        lag = asyncio.create_task(_watch_lag(consumer, engine.metrics), name="consumer-lag")
        yield
        lag.cancel()
        await consumer.stop(settings.shutdown_grace)
        publisher.stop()
        await _finish(publishing, settings.shutdown_grace)
        await publisher.close()
        await connection.close()

    return context


async def _watch_lag(consumer: Consumer, metrics: Metrics) -> None:
    while True:
        with contextlib.suppress(Exception):  # a passing broker error must not end the watch
            metrics.consumer_lag.set(await consumer.consumer_lag())
        await asyncio.sleep(MAINTENANCE_INTERVAL * 2)


async def _finish(task: asyncio.Task[None], grace: float) -> None:
    """Wait for a loop asked to stop; cancel it only if it overstays `grace`."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("a background loop did not stop in time; cancelling it", task=task.get_name())
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _upkeep(
    maintenance: Maintenance, db: Database, metrics: Metrics, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await maintenance.beat()
            await maintenance.recover()
            await maintenance.close_finished()
            open_tasks, waiting = await gauges(db)
            metrics.open_tasks.set(open_tasks)
            metrics.chains_waiting.set(waiting)
        except Exception:  # upkeep must outlive a passing store error
            log.exception("maintenance failed; will try again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), MAINTENANCE_INTERVAL)


def _log_schema_change(change: migrate.SchemaChange | None, settings: Settings) -> None:
    if change is None:
        return
    database = redact_url(settings.db_url)
    if change.before is None:
        log.info("database schema created", database=database, revision=change.after)
    else:
        log.info(
            "database schema upgraded",
            database=database,
            from_revision=change.before,
            to_revision=change.after,
            backup=str(change.backup) if change.backup else None,
        )


def _unopenable(settings: Settings, error: OSError | DBAPIError) -> str:
    reason = error.orig if isinstance(error, DBAPIError) else error.strerror or error
    if isinstance(error, OSError) and error.filename:
        reason = f"{error.filename}: {reason}"
    where = redact_url(settings.db_url)
    hint = (
        f"its directory must exist or be creatable, and be writable by uid {os.getuid()}"
        if settings.db_url.startswith("sqlite")
        else "is the server running and reachable?"
    )
    return f"cannot open the database {where} ({reason}): {hint}"


async def _reload_on_sighup(app: web.Application) -> AsyncIterator[None]:
    """SIGHUP takes the roster again, as `POST /v1/roster/reload` does."""
    loop = asyncio.get_running_loop()
    reload = app[ENGINE].roster_reload
    running: set[asyncio.Task[Any]] = set()

    def on_sighup() -> None:
        task = loop.create_task(reload.reload(by="SIGHUP"), name="roster-reload")
        running.add(task)
        task.add_done_callback(running.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    yield
    loop.remove_signal_handler(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    await asyncio.gather(*running, return_exceptions=True)


async def _settle_heap(app: web.Application) -> None:
    frozen = settle_heap()
    log.info("heap settled", frozen_objects=frozen)


def run_service(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; 0 after a clean shutdown, 2 when it cannot start: a
    bad roster, policy or SMS template, the example roster with a real provider, a
    database it cannot open or whose schema it does not know."""
    configure_logging(settings.log_level)
    # SIGHUP reloads the roster once the service runs (`_reload_on_sighup`); until then
    # one must not end the process half-started.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for notice in settings.startup_notices():
        log.warning(notice)
    try:
        roster = load_roster(settings.roster_dir)
        refuse_example_roster(settings, settings.roster_dir, roster)
        policy = load_policy(settings.policy)
        Texts(settings.templates_dir, link_length=url_length(settings.public_url))
        check_provider_templates(settings)
    except InputError as error:
        log.error("cannot start", problem=str(error))
        return 2
    except OSError as error:
        log.error("cannot start", problem=f"{error.filename}: cannot be read ({error.strerror})")
        return 2
    try:
        change = asyncio.run(migrate.prepare_to_serve(settings.db_url, utc_now()))
    except migrate.SchemaMismatch as error:
        log.error("cannot start", problem=str(error))
        return 2
    except (OSError, DBAPIError) as error:
        log.error("cannot start", problem=_unopenable(settings, error))
        return 2
    _log_schema_change(change, settings)
    log.info(
        "starting",
        roster=str(settings.roster_dir),
        persons=len(roster.persons),
        grids=len(roster.grids),
        http=f"{settings.http_host}:{settings.http_port}",
    )
    app = build_app(settings, roster, policy, schema="check")
    app.cleanup_ctx.append(_reload_on_sighup)
    app.on_startup.append(_settle_heap)  # after the cleanup contexts: the engine is built
    web.run_app(
        app,
        host=settings.http_host,
        port=settings.http_port,
        shutdown_timeout=settings.shutdown_grace,
        print=None,
        access_log=None,
    )
    log.info("stopped")
    return 0
