"""Scenario: one red warning to N grid persons by Alibaba Cloud SMS, against a bare loop
of the same batch requests.

`jiaoying serve` runs with `JIAOYING_SMS_PROVIDER=aliyun` pointed at the Alibaba Cloud
stand-in in its own process (`python -m tests.standins.aliyun`), which checks every
request's ACS3 signature. The clock runs from the warning's POST to the stand-in's last
accepted SMS: persons per second through the engine, the sender's batching and the
official SDK. The baseline: the same `SendBatchSms` requests (100 persons each, their own
names and link tokens, signed the same way) from a bare aiohttp loop with the sender's
concurrency, to the same stand-in.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
import uuid
from asyncio.subprocess import STDOUT, create_subprocess_exec
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.client import post_warning, until
from bench.load import Prepared, post_all
from bench.procs import ROOT, Service, ServiceConfig, StandIn, free_port, stop, wait_http
from bench.world import SMS_ONLY, county, county_warning, policy
from channels.aliyun_sms import MAX_BATCH, aliyun_number
from dispatcher.engine.sender import ChannelLimits
from dispatcher.runtime.provider_choice import NOTICE_KINDS
from tests.standins.acs3 import ALGORITHM, signature
from tests.standins.aliyun import DEFAULT_KEY_ID, DEFAULT_SECRET, SIGN_NAME

CONCURRENCY = ChannelLimits().concurrency
TEMPLATE = "SMS_468120001"
QUERY = {"TemplateCode": TEMPLATE}


@dataclass
class AliyunResult:
    recipients: int
    seconds: float
    per_second: float
    baseline_per_second: float
    requests: int  # SendBatchSms requests the service made

    @property
    def ratio(self) -> float:
        return self.per_second / self.baseline_per_second


async def run_aliyun_sms(twilio: StandIn, workdir: Path, recipients: int) -> AliyunResult:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (workdir / "aliyun-standin.log").open("ab") as log:
        process = await create_subprocess_exec(
            *[sys.executable, "-m", "tests.standins.aliyun", "--port", str(port)],
            stdout=log,
            stderr=STDOUT,
            cwd=ROOT,
        )
        try:
            await wait_http(f"{url}/_stats", process)
            return await _measure(twilio, workdir, recipients, url)
        finally:
            await stop(process, grace=5)


async def _measure(twilio: StandIn, workdir: Path, recipients: int, url: str) -> AliyunResult:
    roster = county(workdir / "roster", recipients)
    config = ServiceConfig(
        workdir=workdir,
        roster=roster.directory,
        policy=policy(workdir / "policy.yaml", SMS_ONLY),
        env={
            "JIAOYING_SMS_PROVIDER": "aliyun",
            "JIAOYING_ALIYUN_ACCESS_KEY_ID": DEFAULT_KEY_ID,
            "JIAOYING_ALIYUN_ACCESS_KEY_SECRET": DEFAULT_SECRET,
            "JIAOYING_ALIYUN_SMS_SIGN_NAME": SIGN_NAME,
            "JIAOYING_ALIYUN_SMS_TEMPLATES": ",".join(
                f"{kind}={TEMPLATE}" for kind in NOTICE_KINDS
            ),
            "JIAOYING_ALIYUN_SMS_ENDPOINT": url,
            "JIAOYING_CALLBACK_SECRETS": "bench-callback-" + "c4" * 10,
        },
    )
    async with aiohttp.ClientSession() as http, Service(config, twilio) as service:
        before = await _stats(http, url)
        posted = time.time()
        await post_warning(http, service.url, county_warning(f"bench-aliyun-{time.time_ns()}"))

        async def all_sent() -> bool:
            return int((await _stats(http, url))["sms"]) - int(before["sms"]) >= recipients

        await until(all_sent, within=300 + recipients / 50, what=f"{recipients} Alibaba SMS")
        after = await _stats(http, url)
    seconds = float(after["last_sms_at"]) - posted
    requests = _batches(url.removeprefix("http://"), roster.grid_phones)
    baseline = await post_all(f"{url}/?{urlencode(QUERY)}", requests, CONCURRENCY)
    if baseline.statuses.keys() != {200}:
        raise RuntimeError(f"the bare loop's requests were refused: {dict(baseline.statuses)}")
    return AliyunResult(
        recipients=recipients,
        seconds=seconds,
        per_second=recipients / seconds,
        baseline_per_second=len(roster.grid_phones) / baseline.seconds,
        requests=int(after["requests"]) - int(before["requests"]),
    )


async def _stats(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/_stats") as reply:
        result: dict[str, Any] = await reply.json()
        return result


def _batches(host: str, phones: tuple[str, ...]) -> list[Prepared]:
    """The SendBatchSms requests for `phones`, 100 a request, signed as the SDK signs."""
    prepared = []
    for start in range(0, len(phones), MAX_BATCH):
        chunk = phones[start : start + MAX_BATCH]
        values = [
            {"name": "网格员", "level": "红色", "event": "暴雨红色预警", "token": f"t{n:030d}"}
            for n in range(len(chunk))
        ]
        form = {
            "PhoneNumberJson": json.dumps([aliyun_number(phone) for phone in chunk]),
            "SignNameJson": json.dumps([SIGN_NAME] * len(chunk), ensure_ascii=False),
            "TemplateParamJson": json.dumps(values, ensure_ascii=False),
        }
        prepared.append(_signed(host, form))
    return prepared


def _signed(host: str, form: dict[str, str]) -> Prepared:
    body = urlencode(form).encode()
    headers = {
        "host": host,
        "x-acs-action": "SendBatchSms",
        "x-acs-version": "2017-05-25",
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
    }
    names = sorted(headers)
    signed = signature("POST", "/", QUERY, headers, names, body, DEFAULT_SECRET)
    headers["authorization"] = (
        f"{ALGORITHM} Credential={DEFAULT_KEY_ID},SignedHeaders={';'.join(names)},"
        f"Signature={signed}"
    )
    return Prepared(body, headers)
