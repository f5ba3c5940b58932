"""Scenario 5: the same fan-out on PostgreSQL with one and with two replicas, against the
SQLite single process, in the same run (issue 8's row).

Each run gets a county of N grid persons and one county-wide red warning, SMS only,
POSTed to the first replica; the replicas share the store and claim the due sends with
`FOR UPDATE SKIP LOCKED`. The figure is the one of the fan-out scenario: SMS per second
from the POST to the stand-in's first SMS to the last person, and the service CPU (all
replicas together) per recipient. One bare-client baseline serves the three rows: the
same Messages POSTs, same concurrency, to the same stand-in, measured right after them.
The stand-in reports back as Twilio does (`Reports`) to the service and to the baseline's
receiver alike; the CPU counts every report answered.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import aiohttp

from bench.client import Reports, post_warning, reset_standin, standin_count, standin_stats, until
from bench.fanout import TWILIO_REPORTS, bare, sms_text
from bench.load import sms_baseline
from bench.procs import Service, ServiceConfig, StandIn
from bench.world import SMS_ONLY, county, county_warning, policy
from tests.pg import fresh_database
from tests.rosters import County

PG_ADMIN_URL = os.environ.get(
    "JIAOYING_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@dataclass
class StoreRun:
    store: str  # "sqlite" or "postgresql"
    replicas: int
    recipients: int
    seconds: float  # POST → the last person's first SMS
    per_second: float
    cpu_per_recipient_ms: float  # every replica's CPU, summed
    duplicates: int  # SMS beyond one per person


@dataclass
class StoresResult:
    runs: list[StoreRun]
    baseline_per_second: float

    def ratio(self, run: StoreRun) -> float:
        return run.per_second / self.baseline_per_second


async def run_stores(
    standin: StandIn, workdir: Path, recipients: int, reports: Reports = TWILIO_REPORTS
) -> StoresResult:
    roster = county(workdir / "roster", recipients)
    policy_file = policy(workdir / "policy.yaml", SMS_ONLY)
    runs = [await _fanout(standin, workdir / "sqlite", roster, policy_file, None, 1, reports)]
    for replicas in (1, 2):
        async with fresh_database(PG_ADMIN_URL, unreachable=_unreachable) as db_url:
            where = workdir / f"postgresql-{replicas}"
            runs.append(
                await _fanout(standin, where, roster, policy_file, db_url, replicas, reports)
            )
    text = sms_text(workdir / "sqlite" / "jiaoying.db")
    baseline = await bare(sms_baseline, standin, roster.grid_phones, text, reports)
    return StoresResult(runs, baseline.per_second())


async def _fanout(
    standin: StandIn,
    workdir: Path,
    roster: County,
    policy_file: Path,
    db_url: str | None,
    replicas: int,
    reports: Reports,
) -> StoreRun:
    recipients = len(roster.grid_phones)
    configs = [
        ServiceConfig(workdir, roster.directory, policy_file, db_url=db_url, name=f"serve-{n}")
        for n in range(replicas)
    ]
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession() as http:
        # One after the other: the first applies the migrations the second then finds.
        services = [await stack.enter_async_context(Service(c, standin)) for c in configs]
        await reset_standin(http, standin.url, callbacks=services[0].url, reports=reports)
        cpu_before = sum(service.cpu() for service in services)
        posted = time.time()
        identifier = f"bench-stores-{recipients}-{time.time_ns()}"
        await post_warning(http, services[0].url, county_warning(identifier))

        async def everyone_reached() -> bool:
            phones = {phone for _, phone in (await standin_stats(http, standin.url)).sent}
            return len(phones) >= recipients

        limit = 300 + recipients / 50
        await until(everyone_reached, within=limit, every=0.5, what="every recipient reached")

        async def reports_answered() -> bool:
            count = await standin_count(http, standin.url)
            return count.reports_posted >= count.reports_due

        await until(reports_answered, within=limit, what="every status callback answered")
        cpu = sum(service.cpu() for service in services) - cpu_before
        stats = await standin_stats(http, standin.url)
    reached: dict[str, float] = {}
    for at, phone in stats.sent:
        reached[phone] = min(at, reached.get(phone, at))
    seconds = max(reached.values()) - posted
    return StoreRun(
        store="sqlite" if db_url is None else "postgresql",
        replicas=replicas,
        recipients=recipients,
        seconds=seconds,
        per_second=recipients / seconds,
        cpu_per_recipient_ms=1000 * cpu / recipients,
        duplicates=len(stats.sent) - len(reached),
    )


def _unreachable(reason: str) -> NoReturn:
    raise RuntimeError(f"{reason} Or name another server in JIAOYING_BENCH_PG_URL.")
