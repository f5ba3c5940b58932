"""Scenario 1: one red warning to N grid persons, SMS only, against a plain POST loop.

The service gets a county of exactly N grid persons and a county-wide red warning over
HTTP. The clock runs from just before that POST to the stand-in's arrival time of the
last SMS. The stand-in reports back as Twilio does (`Reports`: a signed `sent` and
`delivered` per SMS, a share `undelivered`), and a share of the persons answer by SMS,
signed like Twilio signs, as they would during a real fan-out; the run ends once every
report is answered and every answer recorded, and the service's CPU time over the whole
run, divided by N, is the cost per recipient. Then the baseline: the same N Messages
POSTs, same text, same concurrency, from a bare aiohttp loop, whose status callbacks
the stand-in posts to a trivial receiver in the same process (`bench.receiver`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.client import (
    Reports,
    post_warning,
    query,
    reset_standin,
    scalar,
    standin_count,
    standin_stats,
    until,
)
from bench.load import LoadResult, channel_baseline, sms_baseline
from bench.procs import Service, ServiceConfig, StandIn
from bench.receiver import Receiver
from bench.world import SMS_ONLY, county, county_warning, policy
from dispatcher.engine.sender import ChannelLimits

TWILIO_REPORTS = Reports()
CONCURRENCY = ChannelLimits().concurrency  # the SMS channel's own bound in the sender


@dataclass(frozen=True)
class Answering:
    """Which persons answer during a fan-out, and when (seconds after their SMS)."""

    share: float = 0.3
    after: tuple[float, float] = (5.0, 40.0)


@dataclass
class FanoutResult:
    recipients: int
    seconds: float  # POST of the warning → last SMS at the stand-in
    first_sms: float  # POST → first SMS
    ingest: float  # POST → 202
    per_second: float
    baseline_per_second: float
    cpu_per_recipient_ms: float
    # The bare client's CPU per SMS, and jiaoying's SMS channel alone (the Twilio SDK path,
    # no engine) from the same driver: what the send path it must take costs by itself.
    baseline_cpu_ms: float
    channel_per_second: float
    channel_cpu_ms: float
    peak_rss_mib: float
    answers: int
    answers_refused: int
    duplicates: int  # SMS beyond one per recipient (a retried send the stand-in had taken)
    reports: int = 0  # status callbacks the stand-in posted to the service
    reports_refused: int = 0  # of them, answered with another status than 204
    sent_at: list[float] = field(default_factory=list)  # seconds after the POST, per SMS
    answered_at: list[float] = field(default_factory=list)  # seconds after the POST

    @property
    def ratio(self) -> float:
        return self.per_second / self.baseline_per_second

    @property
    def channel_ratio(self) -> float:
        return self.channel_per_second / self.baseline_per_second


async def run_fanout(
    standin: StandIn,
    workdir: Path,
    recipients: int,
    answering: Answering,
    *,
    reports: Reports | None = TWILIO_REPORTS,
    profile: Path | None = None,
    send_window: int | None = None,
) -> FanoutResult:
    """The fan-out to `recipients` with the stand-in reporting back (`reports`; None: the
    provider that never reports, for comparison)."""
    roster = county(workdir / "roster", recipients)
    config = ServiceConfig(
        workdir=workdir,
        roster=roster.directory,
        policy=policy(workdir / "policy.yaml", SMS_ONLY),
        profile=profile,
        send_window=send_window,
    )
    async with aiohttp.ClientSession() as http, Service(config, standin) as service:
        await reset_standin(
            http,
            standin.url,
            callbacks=service.url,
            answer_share=answering.share,
            answer_after=answering.after,
            reports=reports,
        )
        body = county_warning(f"bench-fanout-{recipients}-{time.time_ns()}")
        cpu_before = service.cpu()
        posted = time.time()
        warning_id = await post_warning(http, service.url, body)
        ingest = time.time() - posted
        limit = 300 + recipients / 50

        async def all_sent() -> bool:
            return (await standin_count(http, standin.url)).sent >= recipients

        await until(all_sent, within=limit, what=f"{recipients} SMS at the stand-in")

        async def everyone_reached() -> bool:
            # Distinct numbers, not a count: a send retried after a lost answer counts twice.
            phones = {phone for _, phone in (await standin_stats(http, standin.url)).sent}
            return len(phones) >= recipients

        await until(everyone_reached, within=limit, every=1.0, what="every recipient reached")

        def results_recorded() -> bool:
            claimed = "SELECT count(*) FROM attempts WHERE status = 'claimed'"
            return scalar(service.db_path, claimed) == 0

        await until(results_recorded, within=60, what="send results recorded")

        async def reports_answered() -> bool:
            count = await standin_count(http, standin.url)
            return count.reports_posted >= count.reports_due

        await until(reports_answered, within=limit, what="every status callback answered")
        reported = await standin_count(http, standin.url)

        async def answers_posted() -> bool:
            count = await standin_count(http, standin.url)
            return count.answers >= count.planned

        await until(answers_posted, within=limit, what="auto-answers posted")
        stats = await standin_stats(http, standin.url)
        accepted = sum(1 for _, status in stats.answers if status == 200)

        def answers_recorded() -> bool:
            return _answers(service.db_path, warning_id) >= accepted

        await until(answers_recorded, within=60, what="answers recorded")
        cpu = service.cpu() - cpu_before
        _, peak_kib = service.memory()
        answered_at = _answer_times(service.db_path, warning_id, posted)
        text = sms_text(service.db_path)
    sent_at = sorted(at - posted for at, _ in stats.sent)
    reached: dict[str, float] = {}
    for at, phone in stats.sent:
        reached[phone] = min(at, reached.get(phone, at))
    seconds = max(reached.values()) - posted  # the last person's first SMS
    baseline = await bare(sms_baseline, standin, roster.grid_phones, text, reports)
    channel = await bare(channel_baseline, standin, roster.grid_phones, text, reports)
    if channel.statuses[0]:
        raise RuntimeError(f"the channel alone failed {channel.statuses[0]} sends")
    return FanoutResult(
        recipients=recipients,
        seconds=seconds,
        first_sms=sent_at[0],
        ingest=ingest,
        per_second=recipients / seconds,
        baseline_per_second=baseline.per_second(),
        cpu_per_recipient_ms=1000 * cpu / recipients,
        baseline_cpu_ms=1000 * baseline.cpu / baseline.count,
        channel_per_second=channel.per_second(),
        channel_cpu_ms=1000 * channel.cpu / channel.count,
        peak_rss_mib=peak_kib / 1024,
        answers=len(answered_at),
        answers_refused=len(stats.answers) - accepted,
        duplicates=len(stats.sent) - len(reached),
        reports=reported.reports_posted,
        reports_refused=reported.refused,
        sent_at=sent_at,
        answered_at=answered_at,
    )


async def bare(
    loop: Callable[..., Awaitable[LoadResult]],
    standin: StandIn,
    phones: Sequence[str],
    text: str,
    reports: Reports | None,
) -> LoadResult:
    """A bare `loop` (`sms_baseline`, `channel_baseline`) to the stand-in reporting back as
    it did to the service, its callbacks taken by a `Receiver` in this process."""
    async with aiohttp.ClientSession() as http, Receiver(text) as receiver:
        await reset_standin(http, standin.url, reports=reports)
        expected = 2 * len(phones) if reports is not None else 0

        async def settled() -> None:
            await until(
                lambda: receiver.total >= expected, within=300, every=0.01, what="callbacks"
            )

        result: LoadResult = await loop(
            standin, phones, text, receiver.url, CONCURRENCY, settled=settled
        )
        await reset_standin(http, standin.url)
    return result


def _answers(db_path: Path, warning_id: str) -> int:
    return scalar(db_path, "SELECT count(*) FROM answers WHERE warning_id = ?", warning_id)


def _answer_times(db_path: Path, warning_id: str, origin: float) -> list[float]:
    rows = query(db_path, "SELECT at FROM answers WHERE warning_id = ? ORDER BY at", warning_id)
    return [_epoch(at) - origin for (at,) in rows]


def _epoch(stored: str) -> float:
    """A UTC timestamp as SQLite keeps it (no offset) → seconds since the epoch."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).timestamp()


def sms_text(db_path: Path) -> str:
    """The text of one SMS the service sent (the baseline sends the same)."""
    rows = query(db_path, "SELECT payload FROM attempts WHERE channel = 'sms' LIMIT 1")
    payload = rows[0][0]
    text: str = json.loads(payload)["text"] if isinstance(payload, str) else payload["text"]
    return text
