"""Scenario 2: one red warning to N grid persons by voice, every call played through.

The service gets a county of N grid persons and a county-wide red warning whose policy
calls everyone at once. The stand-in plays each call as Twilio would (`Reports`): the
four status events jiaoying asks for, the signed TwiML fetch, the asynchronous machine
verdict, a key 1 for a share of the persons, and for the others the replays jiaoying's
TwiML asks for. The rate runs from the POST to the last call placed; the service's CPU,
until the last call's last callback is answered, divided by N, is the cost per call.

The baseline: the same N Calls POSTs (same fields), same concurrency, from a bare aiohttp
loop, whose calls the stand-in plays the same way against a trivial receiver in the same
process (`bench.receiver`), its CPU counted until the last call is through.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
from bench.load import LoadResult, post_all
from bench.procs import TWILIO_FROM, Service, ServiceConfig, StandIn
from bench.receiver import Receiver
from bench.world import VOICE_ONLY, county, county_warning, policy
from channels.twilio_http import callback_url
from channels.twilio_voice import (
    AMD_PATH,
    CALL_STATUS_PATH,
    RING_SECONDS,
    STATUS_EVENTS,
    VOICE_PATH,
)
from dispatcher.engine.sender import ChannelLimits

CONCURRENCY = ChannelLimits().concurrency  # the voice channel's own bound in the sender
CALLS = Reports()


@dataclass
class VoiceResult:
    calls: int
    seconds: float  # POST of the warning → the last call placed
    per_second: float
    baseline_per_second: float
    cpu_per_call_ms: float  # the service, until every call's last callback was answered
    baseline_cpu_ms: float  # the bare loop and its receiver, the same way
    callbacks: int  # posted to the service
    callbacks_refused: int  # of them, answered with another status than 200 or 204
    delivered: int  # calls the store shows delivered
    answered: int  # persons answered by key 1
    pressed: int  # calls in which the stand-in pressed 1

    @property
    def ratio(self) -> float:
        return self.per_second / self.baseline_per_second


async def run_voice(
    standin: StandIn,
    workdir: Path,
    calls: int,
    *,
    reports: Reports = CALLS,
    profile: Path | None = None,
) -> VoiceResult:
    roster = county(workdir / "roster", calls)
    config = ServiceConfig(
        workdir=workdir,
        roster=roster.directory,
        policy=policy(workdir / "policy.yaml", VOICE_ONLY),
        profile=profile,
    )
    limit = 300 + calls / 20
    async with aiohttp.ClientSession() as http, Service(config, standin) as service:
        await reset_standin(http, standin.url, callbacks=service.url, reports=reports)
        cpu_before = service.cpu()
        posted = time.time()
        warning_id = await post_warning(
            http, service.url, county_warning(f"bench-voice-{calls}-{time.time_ns()}")
        )

        async def all_through() -> bool:
            count = await standin_count(http, standin.url)
            return count.calls >= calls and count.calls_done >= count.calls

        await until(all_through, within=limit, every=0.5, what=f"{calls} calls played through")
        cpu = service.cpu() - cpu_before
        count = await standin_count(http, standin.url)
        stats = await standin_stats(http, standin.url)
        delivered = scalar(
            service.db_path,
            "SELECT count(*) FROM attempts WHERE channel = 'voice' AND status = 'delivered'",
        )
        answered = scalar(
            service.db_path,
            "SELECT count(*) FROM answers WHERE warning_id = ? AND via = 'voice'",
            warning_id,
        )
        text = _call_text(service.db_path)
    reached: dict[str, float] = {}
    for at, phone in stats.calls:
        reached[phone] = min(at, reached.get(phone, at))
    seconds = max(reached.values()) - posted
    baseline = await voice_baseline(standin, roster.grid_phones, text, reports)
    return VoiceResult(
        calls=calls,
        seconds=seconds,
        per_second=calls / seconds,
        baseline_per_second=baseline.per_second(),
        cpu_per_call_ms=1000 * cpu / calls,
        baseline_cpu_ms=1000 * baseline.cpu / baseline.count,
        callbacks=count.reports_posted,
        callbacks_refused=count.refused,
        delivered=delivered,
        answered=answered,
        pressed=round(calls * reports.key_share),
    )


async def voice_baseline(
    standin: StandIn, phones: Sequence[str], text: str, reports: Reports = CALLS
) -> LoadResult:
    """The Calls POSTs jiaoying makes (the fields the Twilio SDK sends for them), from a
    bare aiohttp loop, every call played through against the driver's `Receiver`."""
    credentials = base64.b64encode(f"{standin.account_sid}:{standin.auth_token}".encode()).decode()
    headers = {
        "Authorization": f"Basic {credentials}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    async with aiohttp.ClientSession() as http, Receiver(text) as receiver:
        await reset_standin(http, standin.url, reports=reports)
        forms = [
            _call_form(receiver.url, phone, f"{n}:voice:c0s0") for n, phone in enumerate(phones)
        ]

        async def settled() -> None:
            async def through() -> bool:
                return (await standin_count(http, standin.url)).calls_done >= len(phones)

            await until(through, within=300 + len(phones) / 20, every=0.05, what="bare calls")

        url = f"{standin.url}/2010-04-01/Accounts/{standin.account_sid}/Calls.json"
        result = await post_all(url, forms, CONCURRENCY, headers=headers, settled=settled)
        await reset_standin(http, standin.url)
    return result


def _call_form(base: str, phone: str, key: str) -> list[tuple[str, str]]:
    """The form `TwilioVoice.send` posts for one call (StatusCallbackEvent repeated)."""
    return [
        ("To", phone),
        ("From", TWILIO_FROM),
        ("Url", callback_url(base, VOICE_PATH, key)),
        ("StatusCallback", callback_url(base, CALL_STATUS_PATH, key)),
        *(("StatusCallbackEvent", event) for event in STATUS_EVENTS),
        ("MachineDetection", "DetectMessageEnd"),
        ("AsyncAmd", "true"),
        ("AsyncAmdStatusCallback", callback_url(base, AMD_PATH, key)),
        ("Timeout", str(RING_SECONDS)),
    ]


def _call_text(db_path: Path) -> str:
    """The text of one call the service placed (the baseline's receiver reads the same)."""
    rows = query(db_path, "SELECT payload FROM attempts WHERE channel = 'voice' LIMIT 1")
    payload = rows[0][0]
    text: str = json.loads(payload)["text"] if isinstance(payload, str) else payload["text"]
    return text
