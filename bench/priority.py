"""Red before blue under a provider's rate cap (issue 17, point 4).

A blue warning to the whole county fans out at `JIAOYING_SEND_RATES=sms=RATE`. Once it is
under way, red warnings to the persons of one village each are published one after
another (`runs` of them, each once the previous one's SMS are all out), as a landslide
warning would come during a county-wide gale. Each run times, at the stand-in, its first
SMS and its last after the POST; the p99 over the runs are the figures. Then the blue
warning must finish after them, every person reached, none twice.

A red village's persons had their blue SMS before their red warning was published (the
blue fan-out goes through the county in roster order, and each red run waits for that), so
an SMS to one of them after the POST is the red one.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import aiohttp

from bench.client import post_warning, reset_standin, standin_count, standin_stats, until
from bench.procs import Service, ServiceConfig, StandIn
from bench.stats import percentile
from bench.world import SMS_ONLY, policy, warning
from tests.rosters import COUNTY, write_county

RATE = 200  # SMS a second, the provider's contract
PER_VILLAGE = 50  # the red warning's persons: one village's grid persons
GAP = 0.5  # seconds between one red run's last SMS and the next POST
FIRST_TARGET_S = 1.0
ALL_TARGET_S = 2.0


@dataclass
class PriorityResult:
    store: str  # "sqlite" or "postgresql"
    blue_recipients: int
    red_runs: int
    red_recipients: int  # each run's
    rate: int
    first_p50_s: float
    first_p99_s: float
    all_p50_s: float
    all_p99_s: float
    post_p99_s: float  # POST → 202: the red warning stored, before any send can be claimed
    blue_per_second: float  # the blue fan-out's SMS/s, POST → its last SMS (all reds included)
    blue_last_after_red: bool  # the blue fan-out finished after the last red run
    lost: int  # persons of either warning without their SMS
    duplicates: int  # SMS beyond one per person and warning

    @property
    def met(self) -> bool:
        return (
            self.first_p99_s <= FIRST_TARGET_S
            and self.all_p99_s <= ALL_TARGET_S
            and self.blue_last_after_red
            and self.lost == 0
        )


def _village(index: int) -> str:
    town, village = divmod(index, 900)
    return f"{COUNTY}{100 + town:03d}{100 + village:03d}"


async def run_priority(
    standin: StandIn, workdir: Path, blue: int, runs: int, *, db_url: str | None = None
) -> PriorityResult:
    """The scenario on a fresh SQLite file, or on the PostgreSQL database `db_url`."""
    roster = write_county(workdir / "roster", blue, per_village=PER_VILLAGE)
    villages = [
        list(roster.grid_phones[v * PER_VILLAGE : (v + 1) * PER_VILLAGE]) for v in range(runs)
    ]
    config = ServiceConfig(
        workdir=workdir,
        roster=roster.directory,
        policy=policy(workdir / "policy.yaml", SMS_ONLY),
        db_url=db_url,
    )
    service = Service(config, standin)
    service.env["JIAOYING_SEND_RATES"] = f"sms={RATE}"
    stamp = time.time_ns()
    firsts, lasts, posts = [], [], []
    async with aiohttp.ClientSession() as http, service:
        await reset_standin(http, standin.url, callbacks=service.url)
        posted = time.time()
        blue_body = warning(f"bench-priority-blue-{stamp}", [COUNTY], _now())
        await post_warning(http, service.url, _as_level(blue_body, "blue"))
        reached = runs * PER_VILLAGE + 2 * RATE  # the red villages had their blue SMS

        async def blue_under_way() -> bool:
            return (await standin_count(http, standin.url)).sent >= reached

        await until(blue_under_way, within=120, what="the blue fan-out under way")
        for run, phones in enumerate(villages):
            body = warning(f"bench-priority-red-{stamp}-{run}", [_village(run)], _now())
            post, first, last = await _red_run(http, standin, service, body, set(phones))
            firsts.append(first)
            lasts.append(last)
            posts.append(post)
            print(
                f"   red run {run}: stored {post:.2f} s, first {first:.2f} s, all {last:.2f} s",
                flush=True,
            )
            await asyncio.sleep(GAP)
        red_done = time.time()

        async def blue_done() -> bool:
            return (await standin_count(http, standin.url)).sent >= blue + runs * PER_VILLAGE

        await until(blue_done, within=120 + 2 * blue / RATE, every=1.0, what="blue finished")
        stats = await standin_stats(http, standin.url)
    per_phone: dict[str, int] = {}
    for _, to in stats.sent:
        per_phone[to] = per_phone.get(to, 0) + 1
    red_phones = {phone for village in villages for phone in village}
    wanted_count = {phone: 2 if phone in red_phones else 1 for phone in roster.grid_phones}
    lost = sum(1 for phone, n in wanted_count.items() if per_phone.get(phone, 0) < n)
    duplicates = sum(max(0, per_phone.get(p, 0) - n) for p, n in wanted_count.items())
    blue_last = max(at for at, _ in stats.sent)
    return PriorityResult(
        store="sqlite" if db_url is None else "postgresql",
        blue_recipients=blue,
        red_runs=runs,
        red_recipients=PER_VILLAGE,
        rate=RATE,
        first_p50_s=percentile(firsts, 50),
        first_p99_s=percentile(firsts, 99),
        all_p50_s=percentile(lasts, 50),
        all_p99_s=percentile(lasts, 99),
        post_p99_s=percentile(posts, 99),
        blue_per_second=(blue + runs * PER_VILLAGE) / (blue_last - posted),
        blue_last_after_red=blue_last > red_done,
        lost=lost,
        duplicates=duplicates,
    )


def unreachable(reason: str) -> NoReturn:
    raise RuntimeError(f"{reason} Or name another server in JIAOYING_BENCH_PG_URL.")


def _now() -> datetime:
    return datetime.now(UTC)


def _as_level(body: bytes, level: str) -> bytes:
    """The example warning (red) as a warning of `level`, in its level, event and headline."""
    data = json.loads(body)
    info = data["infos"][0]
    chinese = {"blue": "蓝色", "red": "红色"}[level]
    info["level"] = level
    info["event"] = "大风" + chinese + "预警"
    info["headline"] = f"陆河县气象台发布大风{chinese}预警信号，全县各网格责任人请转告群众防范大风"
    info["parameters"] = {
        key: chinese if key == "预警级别" else value
        for key, value in info.get("parameters", {}).items()
    }
    return json.dumps(data, ensure_ascii=False).encode()


async def _red_run(
    http: aiohttp.ClientSession, standin: StandIn, service: Service, body: bytes, phones: set[str]
) -> tuple[float, float, float]:
    """POST one red warning; seconds from the POST to its 202, its first and its last SMS."""
    before = len((await standin_stats(http, standin.url)).sent)
    start = time.time()
    await post_warning(http, service.url, body)
    stored = time.time() - start

    async def arrivals() -> list[float]:
        sent = (await standin_stats(http, standin.url)).sent[before:]
        times = {to: at - start for at, to in sent if at >= start and to in phones}
        return list(times.values()) if len(times) == len(phones) else []

    # The times are the stand-in's; how often this looks only ends the wait.
    times: list[float] = await until(arrivals, within=60, every=0.25, what="a red run")
    return stored, min(times), max(times)
