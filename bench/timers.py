"""Scenarios 4 and 5: pending escalation steps falling due over a minute; peak memory.

K warnings, each for its own slice of a county of N grid persons, are sent one second
apart (`sent` in the past); the policy sends WeChat at once (simulate mode) and
re-notifies the silent by SMS `window + margin` seconds after `sent`. So once the warnings are in,
N timer rows wait, and they fall due over `window` seconds, starting `margin` seconds
after the first warning was posted. The lateness of each re-notify is the stand-in's
arrival time minus its due time (`sent + after`). The service's peak resident memory
over the run, with all N chains open and their sends going out, is scenario 5.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.client import post_warning, reset_standin, scalar, standin_count, standin_stats, until
from bench.procs import Service, ServiceConfig, StandIn
from bench.stats import percentile
from bench.world import PER_VILLAGE, county, policy, renotify_after, village_code, warning


@dataclass
class TimersResult:
    steps: int
    window_s: float
    setup_s: float  # first POST → every timer waiting for its step
    margin_s: float  # first POST → first due time
    p50_ms: float
    p99_ms: float
    max_ms: float
    late_over_1s: int
    peak_rss_mib: float


async def run_timers(
    standin: StandIn, workdir: Path, persons: int, window: int, margin: int
) -> TimersResult:
    roster = county(workdir / "roster", persons, wechat=True)
    villages = math.ceil(persons / PER_VILLAGE)
    per_warning = math.ceil(villages / window)
    after = window + margin
    config = ServiceConfig(
        workdir=workdir,
        roster=roster.directory,
        policy=policy(workdir / "policy.yaml", renotify_after(after)),
    )
    async with aiohttp.ClientSession() as http, Service(config, standin) as service:
        await reset_standin(http, standin.url, callbacks=service.url)
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        posted = time.time()
        first_sent = start - timedelta(seconds=window)
        for index in range(math.ceil(villages / per_warning)):
            slice_ = range(index * per_warning, min(villages, (index + 1) * per_warning))
            body = warning(
                f"bench-timers-{index}-{time.time_ns()}",
                [village_code(v) for v in slice_],
                first_sent + timedelta(seconds=index),
            )
            await post_warning(http, service.url, body)

        def waiting() -> bool:
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            due = scalar(service.db_path, "SELECT count(*) FROM timers WHERE eta <= ?", now)
            total = scalar(service.db_path, "SELECT count(*) FROM timers")
            return due == 0 and total >= persons

        await until(waiting, within=after + 60, what="every timer set for its step")
        setup = time.time() - posted

        async def all_sent() -> bool:
            return (await standin_count(http, standin.url)).sent >= persons

        await until(all_sent, within=after + window + 300, what="every re-notify SMS")
        stats = await standin_stats(http, standin.url)
        _, peak_kib = service.memory()
    first_due = (first_sent + timedelta(seconds=after)).timestamp()
    lateness = [
        at - (first_due + (int(phone[-8:]) // PER_VILLAGE) // per_warning)
        for at, phone in stats.sent
    ]
    return TimersResult(
        steps=len(lateness),
        window_s=float(window),
        setup_s=setup,
        margin_s=first_due - posted,
        p50_ms=1000 * percentile(lateness, 50),
        p99_ms=1000 * percentile(lateness, 99),
        max_ms=1000 * max(lateness),
        late_over_1s=sum(1 for late in lateness if late > 1.0),
        peak_rss_mib=peak_kib / 1024,
    )
