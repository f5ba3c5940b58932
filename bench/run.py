"""The benchmark driver: `python -m bench [--quick] [--profile] [--out DIR]`.

Starts the Twilio stand-in once, as its own process, then runs each scenario against a
fresh `jiaoying serve` (its own SQLite file and roster), prints the Markdown table and
writes results.json, results.md, the fan-out plot and any profiles into `--out`
(`var/bench/`, `var/bench-quick/` with `--quick`: results are not kept in git).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bench.aliyun_sms import run_aliyun_sms
from bench.answers import run_answers
from bench.client import Reports
from bench.drill import drill_row, run_drill_bench
from bench.fanout import TWILIO_REPORTS, Answering, FanoutResult, run_fanout
from bench.latency import run_latency
from bench.plot import plot_fanout
from bench.priority import run_priority, unreachable
from bench.procs import ROOT, StandIn
from bench.profile import summarize
from bench.report import Results, machine, table, write
from bench.stores import PG_ADMIN_URL, run_stores
from bench.timers import run_timers
from bench.voice import run_voice
from dispatcher.runtime.logs import configure_logging
from tests.pg import fresh_database

DRILL_SPEED = 10.0  # the 17-minute scale scenario in 102 s: see bench/NOTES.md
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/jiaoying-bench"
SCENARIOS = (
    "fanout",
    "voice",
    "latency",
    "answers",
    "timers",
    "stores",
    "aliyun",
    "drill",
    "priority",
)


@dataclass(frozen=True)
class Plan:
    """How big each scenario is."""

    mode: str
    fanout: tuple[int, ...]
    silent: int  # the fan-out once more with a provider that never reports back
    voice: int
    latency_warnings: int
    latency_gap: float
    answers: int
    timers: int
    timers_window: int
    timers_margin: int
    answering: Answering
    stores: int  # the fan-out on SQLite, PostgreSQL, PostgreSQL with two replicas
    aliyun: int  # the fan-out by Alibaba Cloud SMS
    drill: tuple[int, int, float]  # grids, persons, speed of the county drill
    priority: tuple[int, int]  # a blue fan-out at sms=200, and red warnings published during it
    reports: Reports = TWILIO_REPORTS  # what the stand-in posts back


FULL = Plan(
    mode="full",
    fanout=(1_000, 10_000, 50_000),
    silent=10_000,
    voice=2_000,
    latency_warnings=200,
    latency_gap=0.2,
    answers=5_000,
    timers=100_000,
    timers_window=60,
    timers_margin=180,
    answering=Answering(share=0.3, after=(10.0, 60.0)),
    stores=10_000,
    aliyun=10_000,
    drill=(500, 5_000, DRILL_SPEED),
    priority=(20_000, 20),
)
QUICK = Plan(
    mode="quick",
    fanout=(1_000, 2_000),
    silent=1_000,
    voice=300,
    latency_warnings=30,
    latency_gap=0.1,
    answers=500,
    timers=3_000,
    timers_window=8,
    timers_margin=12,
    answering=Answering(share=0.3, after=(1.0, 5.0)),
    stores=1_000,
    aliyun=1_000,
    drill=(50, 500, DRILL_SPEED),
    priority=(3_000, 5),
)


async def run(plan: Plan, args: argparse.Namespace) -> Results:
    results = Results(plan.mode, machine(), datetime.now(UTC).isoformat(timespec="seconds"))
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="jiaoying-bench-", dir=args.workdir))
    try:
        async with StandIn(work / "standin.log") as standin:
            for scenario in args.only:
                print(f"-- {scenario}", flush=True)
                await _scenario(scenario, plan, args, standin, work, results)
    finally:
        if args.keep:
            print(f"kept the runs' files in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results.seconds = time.monotonic() - started
    return results


async def _scenario(
    scenario: str,
    plan: Plan,
    args: argparse.Namespace,
    standin: StandIn,
    work: Path,
    results: Results,
) -> None:
    if scenario == "fanout":
        for size in plan.fanout:
            profiled = args.profile and size == max(plan.fanout)
            profile = work / f"profile-{size}.raw" if profiled else None
            result = await run_fanout(
                standin,
                work / f"fanout-{size}",
                size,
                Answering(share=0.0),
                reports=plan.reports,
                profile=profile,
            )
            results.fanout.append(result)
            _progress(result)
            if profile is not None:
                summary = args.out / f"profile-{size}.txt"
                summary.write_text(summarize(profile), encoding="utf-8")
                print(f"   profile: {summary}", flush=True)
        silent = work / f"fanout-{plan.silent}-silent"
        results.silent = await run_fanout(
            standin, silent, plan.silent, Answering(share=0.0), reports=None
        )
        _progress(results.silent)
        size = max(plan.fanout)
        results.replying = await run_fanout(
            standin, work / f"fanout-{size}-replying", size, plan.answering, reports=plan.reports
        )
        _progress(results.replying)
    elif scenario == "voice":
        profile = work / "profile-voice.raw" if args.profile else None
        results.voice = await run_voice(
            standin, work / "voice", plan.voice, reports=plan.reports, profile=profile
        )
        if profile is not None:
            summary = args.out / "profile-voice.txt"
            summary.write_text(summarize(profile), encoding="utf-8")
            print(f"   profile: {summary}", flush=True)
        print(
            f"   {results.voice.calls:,} calls: {results.voice.per_second:,.0f}/s vs "
            f"{results.voice.baseline_per_second:,.0f}/s ({results.voice.ratio:.2f}), "
            f"{results.voice.cpu_per_call_ms:.2f} ms CPU each (bare "
            f"{results.voice.baseline_cpu_ms:.2f}), {results.voice.callbacks:,} callbacks",
            flush=True,
        )
    elif scenario == "aliyun":
        results.aliyun = await run_aliyun_sms(standin, work / "aliyun", plan.aliyun)
        print(
            f"   aliyun {results.aliyun.recipients}: {results.aliyun.per_second:,.0f} persons/s "
            f"vs {results.aliyun.baseline_per_second:,.0f}",
            flush=True,
        )
    elif scenario == "latency":
        results.latency = await run_latency(
            standin, work / "latency", args.amqp_url, plan.latency_warnings, plan.latency_gap
        )
    elif scenario == "answers":
        profile = work / "profile-answers.raw" if args.profile else None
        results.answers = await run_answers(
            standin, work / "answers", plan.answers, profile=profile
        )
        if profile is not None:
            summary = args.out / "profile-answers.txt"
            summary.write_text(summarize(profile), encoding="utf-8")
            print(f"   profile: {summary}", flush=True)
    elif scenario == "timers":
        results.timers = await run_timers(
            standin, work / "timers", plan.timers, plan.timers_window, plan.timers_margin
        )
    elif scenario == "stores":
        results.stores = await run_stores(standin, work / "stores", plan.stores, plan.reports)
    elif scenario == "drill":
        (work / "drill").mkdir()
        results.drill = await run_drill_bench(work / "drill", *plan.drill)
        print(f"   {drill_row(results.drill)}", flush=True)
    elif scenario == "priority":
        results.priority.append(
            await run_priority(standin, work / "priority-sqlite", *plan.priority)
        )
        async with fresh_database(PG_ADMIN_URL, unreachable=unreachable) as db_url:
            results.priority.append(
                await run_priority(standin, work / "priority-pg", *plan.priority, db_url=db_url)
            )


def _progress(result: FanoutResult) -> None:
    print(
        f"   {result.recipients:,} ({result.answers:,} answered during it, "
        f"{result.reports:,} reports, {result.reports_refused} refused): "
        f"{result.per_second:,.0f}/s vs {result.baseline_per_second:,.0f}/s "
        f"({result.ratio:.2f}), {result.cpu_per_recipient_ms:.2f} ms CPU each; "
        f"the SMS channel alone {result.channel_per_second:,.0f}/s "
        f"({result.channel_ratio:.2f}), {result.channel_cpu_ms:.2f} ms CPU each "
        f"(bare {result.baseline_cpu_ms:.2f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument(
        "--out", type=Path, help="where results go (default var/bench/, quick: var/bench-quick/)"
    )
    parser.add_argument(
        "--fanout", type=int, nargs="+", help="the fan-out sizes (a smaller run on a busy machine)"
    )
    parser.add_argument("--voice", type=int, help="the voice scenario's calls")
    defaults = Reports()
    parser.add_argument(
        "--report-after",
        type=float,
        default=defaults.after,
        help="seconds from an SMS to its `sent` report, and from that to `delivered`; "
        "from a call placed to its first event",
    )
    parser.add_argument(
        "--undelivered", type=float, default=defaults.undelivered, help="share undelivered"
    )
    parser.add_argument(
        "--key-share", type=float, default=defaults.key_share, help="share of calls pressing 1"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the largest fan-out")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--keep", action="store_true", help="keep rosters, stores and logs")
    parser.add_argument("--workdir", help="where the runs' files go (default: the temp dir)")
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("JIAOYING_BENCH_AMQP_URL", DEFAULT_AMQP),
        help="RabbitMQ for the latency scenario (a vhost of its own: tests reset theirs)",
    )
    args = parser.parse_args()
    # The service's own logging at its default level: the SMS channel the driver runs
    # alone (bench/load.py) then drops its DEBUG lines as cheaply as the service does.
    configure_logging("INFO")
    plan = QUICK if args.quick else FULL
    if args.fanout:
        plan = replace(plan, fanout=tuple(args.fanout), silent=min(args.fanout))
    if args.voice:
        plan = replace(plan, voice=args.voice)
    plan = replace(plan, reports=Reports(args.report_after, args.undelivered, args.key_share))
    if args.out is None:
        args.out = ROOT / ("var/bench-quick" if args.quick else "var/bench")
    args.out.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(run(plan, args))
    plot = None
    if results.replying is not None:
        plot = plot_fanout(results.replying, args.out / f"fanout-{results.replying.recipients}.png")
    write(results, args.out, plot)
    print()
    print(table(results))
    print(f"\nwritten to {args.out}/ in {results.seconds / 60:.1f} min")
