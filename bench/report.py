"""The results: one Markdown table (printed and written) and the full figures as JSON."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.aliyun_sms import AliyunResult
from bench.answers import ROUNDS, AnswersResult
from bench.drill import DrillResult, drill_row
from bench.fanout import FanoutResult
from bench.latency import LatencyResult
from bench.priority import ALL_TARGET_S, FIRST_TARGET_S, PriorityResult
from bench.stores import StoresResult
from bench.timers import TimersResult
from bench.voice import VoiceResult

FANOUT_TARGET = 0.5  # with the provider's reports, at 10,000 and more (the goal: 0.7)
FANOUT_TARGET_FROM = 10_000
VOICE_TARGET = 0.5
REPORT_CPU_TARGET_MS = 0.3
POSTGRESQL_TARGET = 0.8  # of SQLite's rate
ANSWERS_TARGET = 0.5
LATENCY_TARGET_MS = 250.0
LATENESS_TARGET_MS = 1000.0
MEMORY_TARGET_MB = 400.0
FLAT = 1.15  # "not rising": the largest run's cost within 15 % of the smallest's (noise)


@dataclass
class Results:
    mode: str
    machine: dict[str, Any]
    started: str
    seconds: float = 0.0
    fanout: list[FanoutResult] = field(default_factory=list)
    replying: FanoutResult | None = None  # the largest fan-out again, persons replying
    silent: FanoutResult | None = None  # a fan-out with a provider that never reports
    voice: VoiceResult | None = None
    latency: LatencyResult | None = None
    answers: AnswersResult | None = None
    timers: TimersResult | None = None
    stores: StoresResult | None = None
    drill: DrillResult | None = None
    aliyun: AliyunResult | None = None
    priority: list[PriorityResult] = field(default_factory=list)


def machine() -> dict[str, Any]:
    """What the figures ran on, and how busy it was when they started."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def table(results: Results) -> str:
    """The Markdown table of every figure against its baseline and target."""
    rows = ["| Figure | jiaoying | Baseline, same run | Ratio | Target | Met |", "|---" * 6 + "|"]
    largest = max(results.fanout, key=lambda r: r.recipients, default=None)
    for run in results.fanout:
        target, met = "", ""
        if run.recipients >= FANOUT_TARGET_FROM or run is largest:
            target, met = f"≥ {FANOUT_TARGET}", _yes(run.ratio >= FANOUT_TARGET)
        rows.append(
            f"| Fan-out, {run.recipients:,} recipients, {run.reports:,} signed delivery "
            f"reports (SMS/s, post → last SMS) "
            f"| {run.per_second:,.0f} /s | {run.baseline_per_second:,.0f} /s "
            f"| {run.ratio:.2f} | {target} | {met} |"
        )
    if largest is not None:
        rows += _channel_rows(largest)
    if results.silent is not None:
        rows += _silent_rows(results.silent, results.fanout)
    if results.voice is not None:
        rows += _voice_rows(results.voice)
    if results.replying is not None:
        run = results.replying
        rows.append(
            f"| Fan-out, {run.recipients:,} recipients, {run.answers:,} of them replying "
            f"during it | {run.per_second:,.0f} /s | {run.baseline_per_second:,.0f} /s "
            f"| {run.ratio:.2f} | | |"
        )
    if len(results.fanout) > 1:
        smallest = min(results.fanout, key=lambda r: r.recipients)
        costs = " → ".join(f"{r.cpu_per_recipient_ms:.2f}" for r in results.fanout)
        sizes = " → ".join(f"{r.recipients // 1000:,}k" for r in results.fanout)
        growth = largest.cpu_per_recipient_ms / smallest.cpu_per_recipient_ms if largest else 0
        rows.append(
            f"| Cost per recipient, CPU ms ({sizes}) | {costs} | | {growth:.2f}× "
            f"| flat (≤ {FLAT}×) | {_yes(growth <= FLAT)} |"
        )
    if results.latency is not None:
        lat = results.latency
        rows.append(
            f"| Latency, publish → first provider request ({lat.warnings} warnings) "
            f"| p50 {lat.p50_ms:.0f} ms, p99 {lat.p99_ms:.0f} ms "
            f"| floor p50 {lat.floor_p50_ms:.0f} ms, p99 {lat.floor_p99_ms:.0f} ms "
            f"| | p99 < {LATENCY_TARGET_MS:.0f} ms | {_yes(lat.p99_ms < LATENCY_TARGET_MS)} |"
        )
    if results.answers is not None:
        ans = results.answers
        rows.append(
            f"| Answers, signed SMS replies (median of {ROUNDS} rounds of {ans.answers:,}; "
            f"{ans.recorded:,} recorded) "
            f"| {ans.per_second:,.0f} /s | {ans.baseline_per_second:,.0f} /s "
            f"| {ans.ratio:.2f} | ≥ {ANSWERS_TARGET} | {_yes(ans.ratio >= ANSWERS_TARGET)} |"
        )
        rows.append(
            f"| A signed webhook alone, the same replies: form and signature checked, "
            f"nothing stored (stand-in) | {ans.signed_per_second:,.0f} /s "
            f"| {ans.baseline_per_second:,.0f} /s | {ans.signed_ratio:.2f} | | |"
        )
        rows.append(
            f"| The same route, replies from numbers nobody owns (its floor, the same rounds) "
            f"| {ans.unowned_per_second:,.0f} /s | {ans.baseline_per_second:,.0f} /s "
            f"| {ans.unowned_ratio:.2f} | | |"
        )
    if results.timers is not None:
        tim = results.timers
        rows.append(
            f"| Timers, {tim.steps:,} steps due over {tim.window_s:.0f} s, lateness "
            f"| p50 {tim.p50_ms:.0f} ms, p99 {tim.p99_ms:,.0f} ms | | "
            f"| p99 < {LATENESS_TARGET_MS:.0f} ms | {_yes(tim.p99_ms < LATENESS_TARGET_MS)} |"
        )
        rows.append(
            f"| Memory, peak RSS with {tim.steps:,} recipients in flight "
            f"| {tim.peak_rss_mib:.0f} MiB | | | < {MEMORY_TARGET_MB:.0f} MB "
            f"| {_yes(tim.peak_rss_mib * 1.048576 < MEMORY_TARGET_MB)} |"
        )
    if results.stores is not None:
        rows += _store_rows(results.stores)
    if results.aliyun is not None:
        aliyun = results.aliyun
        rows.append(
            f"| Fan-out, {aliyun.recipients:,} persons by Alibaba Cloud SMS (SendBatchSms, "
            f"{aliyun.requests} requests) against a bare loop of the same batch requests "
            f"| {aliyun.per_second:,.0f} persons/s "
            f"| {aliyun.baseline_per_second:,.0f} persons/s | {aliyun.ratio:.2f} | | |"
        )
    if results.drill is not None:
        rows.append(drill_row(results.drill))
    for red_run in results.priority:
        rows += _priority_rows(red_run)
    return "\n".join(rows)


def _priority_rows(run: PriorityResult) -> list[str]:
    """Issue 17's point 4: red warnings published during a blue fan-out at a capped rate."""
    return [
        f"| Red during blue, {run.store}, sms={run.rate}: {run.red_runs} red warnings to "
        f"{run.red_recipients} persons each, published during a {run.blue_recipients:,}-person "
        f"blue fan-out, POST → first SMS / all {run.red_recipients} "
        f"| first p99 {run.first_p99_s:.2f} s, all p99 {run.all_p99_s:.2f} s "
        f"(p50 {run.first_p50_s:.2f} / {run.all_p50_s:.2f} s; POST → 202 p99 "
        f"{run.post_p99_s:.2f} s) | | "
        f"| first ≤ {FIRST_TARGET_S:.0f} s, all ≤ {ALL_TARGET_S:.0f} s, blue after, none lost "
        f"| {_yes(run.met)} |",
        f"| The blue fan-out meanwhile (SMS/s against the cap; finished after the reds; "
        f"persons lost; sent twice) | {run.blue_per_second:,.0f} /s; "
        f"{'yes' if run.blue_last_after_red else 'no'}; {run.lost}; {run.duplicates} "
        f"| {run.rate} /s | {run.blue_per_second / run.rate:.2f} | | |",
    ]


def _channel_rows(run: FanoutResult) -> list[str]:
    """Where the fan-out's CPU goes: the bare client, jiaoying's SMS channel alone (the
    Twilio SDK path, no engine) and the whole service, per SMS of the same run."""
    return [
        f"| Fan-out, {run.recipients:,}: jiaoying's SMS channel alone (Twilio SDK, no "
        f"engine), same loop | {run.channel_per_second:,.0f} /s "
        f"| {run.baseline_per_second:,.0f} /s | {run.channel_ratio:.2f} | | |",
        f"| CPU per SMS at {run.recipients:,}: bare client → SMS channel alone → "
        f"the service (all of it) | {run.baseline_cpu_ms:.2f} → {run.channel_cpu_ms:.2f} "
        f"→ {run.cpu_per_recipient_ms:.2f} ms | | | | |",
    ]


def _silent_rows(silent: FanoutResult, reporting: list[FanoutResult]) -> list[str]:
    """The old figure (a provider that never reports), and from it what a report costs."""
    rows = [
        f"| Fan-out, {silent.recipients:,} recipients, a provider that sends no delivery "
        f"report (the figure before issue 17) | {silent.per_second:,.0f} /s "
        f"| {silent.baseline_per_second:,.0f} /s | {silent.ratio:.2f} | | |"
    ]
    same = next((r for r in reporting if r.recipients == silent.recipients and r.reports), None)
    if same is not None:
        per_report = (
            (same.cpu_per_recipient_ms - silent.cpu_per_recipient_ms)
            * same.recipients
            / same.reports
        )
        rows.append(
            f"| CPU per delivery report at {same.recipients:,} (with reports − without, "
            f"per report) | {per_report:.3f} ms | | | ≤ {REPORT_CPU_TARGET_MS} ms "
            f"| {_yes(per_report <= REPORT_CPU_TARGET_MS)} |"
        )
    return rows


def _voice_rows(voice: VoiceResult) -> list[str]:
    return [
        f"| Voice, {voice.calls:,} calls, every one played through ({voice.callbacks:,} "
        f"signed callbacks; calls/s, post → last call) | {voice.per_second:,.0f} /s "
        f"| {voice.baseline_per_second:,.0f} /s | {voice.ratio:.2f} | ≥ {VOICE_TARGET} "
        f"| {_yes(voice.ratio >= VOICE_TARGET)} |",
        f"| CPU per call, the bare loop and its receiver → the service "
        f"| {voice.baseline_cpu_ms:.2f} → {voice.cpu_per_call_ms:.2f} ms | | | | |",
    ]


def _store_rows(stores: StoresResult) -> list[str]:
    """Issue 8's row: PostgreSQL with one and two replicas against SQLite in one process."""
    rows = []
    sqlite = next((run for run in stores.runs if run.store == "sqlite"), None)
    for run in stores.runs:
        versus = f"; {run.per_second / sqlite.per_second:.2f}× SQLite" if sqlite else ""
        replicas = "1 process" if run.replicas == 1 else f"{run.replicas} replicas"
        target = met = ""
        if sqlite is not None and run.store == "postgresql" and run.replicas == 1:
            target = f"≥ {POSTGRESQL_TARGET}× SQLite"
            met = _yes(run.per_second >= POSTGRESQL_TARGET * sqlite.per_second)
        rows.append(
            f"| Fan-out with reports, {run.recipients:,} recipients, {run.store}, {replicas} "
            f"| {run.per_second:,.0f} /s, {run.cpu_per_recipient_ms:.2f} ms CPU each "
            f"| {stores.baseline_per_second:,.0f} /s | {stores.ratio(run):.2f}{versus} "
            f"| {target} | {met} |"
        )
    return rows


def _plain(results: Results) -> dict[str, Any]:
    data = asdict(results)
    runs = [*zip(results.fanout, data["fanout"], strict=True)]
    for name in ("replying", "silent"):
        run = getattr(results, name)
        if run is not None:
            runs.append((run, data[name]))
    for run, plain in runs:
        # The per-SMS times make the plot; the JSON keeps the figures.
        del plain["sent_at"], plain["answered_at"]
        plain["ratio"] = run.ratio
        plain["channel_ratio"] = run.channel_ratio
    if results.voice is not None:
        data["voice"]["ratio"] = results.voice.ratio
    for name in ("answers",):
        value = getattr(results, name)
        if value is not None:
            data[name]["ratio"] = value.ratio
            data[name]["unowned_ratio"] = value.unowned_ratio
            data[name]["signed_ratio"] = value.signed_ratio
    if results.drill is not None:
        data["drill"]["ratio"] = results.drill.ratio
        data["drill"]["met"] = results.drill.met
    if results.stores is not None:
        for store_run, plain in zip(results.stores.runs, data["stores"]["runs"], strict=True):
            plain["ratio"] = results.stores.ratio(store_run)
    return data


def write(results: Results, out: Path, plot: Path | None) -> str:
    """Write results.json and results.md into `out`; return the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps(_plain(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    info = results.machine
    lines = [
        f"# jiaoying benchmark ({results.mode})",
        "",
        f"Run {results.started}, {results.seconds / 60:.1f} min, on {info['nproc']} cores "
        f"({info['cpu']}), Python {info['python']}, load average at start "
        f"{' / '.join(str(v) for v in info['load_average'])}.",
        "",
        table(results),
        "",
    ]
    if plot is not None:
        lines += [f"![fan-out over time]({plot.name})", ""]
    markdown = "\n".join(lines)
    (out / "results.md").write_text(markdown, encoding="utf-8")
    return markdown
