"""Scenario 3: SMS replies ("1") from every notified person, as fast as the service takes them.

Each is a real Twilio inbound-SMS webhook, form-encoded and signed with the auth token
(`RequestValidator.compute_signature` over jiaoying's public URL), from the person's own
number. The service verifies it, finds the person's open warning and records the answer;
every answer must be in the store at the end. One round lasts under two seconds, so the
service's rate is the median of three rounds, each from persons of its own (every reply
is a first answer, none a replay). The baseline posts the first round's very requests to
a trivial aiohttp handler in the stand-in process, also the median of three rounds.

Two figures help read the ratio. Below the answers: the same route with nothing to
record, as many replies from numbers nobody in the roster owns, each still verified, its
receipt taken and logged (the route's own floor). Above it: the same replies, signed for
the stand-in, to a handler there that parses the form and checks the signature and does
nothing else (the least any authenticated webhook costs in one aiohttp process).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

from bench.client import post_warning, reset_standin, scalar, standin_count, until
from bench.load import Prepared, post_all
from bench.procs import TWILIO_FROM, Service, ServiceConfig, StandIn
from bench.world import SMS_ONLY, county, county_warning, policy
from dispatcher.http.twilio_callbacks import INBOUND_SMS_PATH

CONCURRENCY = 50
ROUNDS = 3


@dataclass
class AnswersResult:
    answers: int  # replies in one round
    recorded: int  # answers in the store after every round
    refused: int  # replies other than 200, in every round
    per_second: float
    baseline_per_second: float
    unowned_per_second: float  # the same route, replies from numbers nobody owns
    signed_per_second: float  # a handler that checks the signature and nothing else

    @property
    def signed_ratio(self) -> float:
        return self.signed_per_second / self.baseline_per_second

    @property
    def unowned_ratio(self) -> float:
        return self.unowned_per_second / self.baseline_per_second

    @property
    def ratio(self) -> float:
        return self.per_second / self.baseline_per_second


async def _standin_rate(url: str, replies: list[Prepared]) -> float:
    """The median rate of `ROUNDS` rounds of the same `replies` to a stand-in handler,
    which stores nothing (the same request twice is the same work): one round lasts under
    half a second, and a single one moved by a quarter from run to run."""
    rate, refused = await _rounds(url, [replies] * ROUNDS)
    if refused:
        raise RuntimeError(f"{url} refused {refused} replies")
    return rate


def _split(items: list[str], size: int) -> list[list[str]]:
    """The first `ROUNDS` × `size` of `items`, in `ROUNDS` groups of `size`."""
    return [items[n * size : (n + 1) * size] for n in range(ROUNDS)]


async def _rounds(url: str, rounds: list[list[Prepared]]) -> tuple[float, int]:
    """Post each round in turn to the service: the median rate, and how many replies got
    another status than 200 in all."""
    results = [await post_all(url, replies, CONCURRENCY) for replies in rounds]
    refused = sum(result.count - result.statuses[200] for result in results)
    return statistics.median(result.per_second() for result in results), refused


def signed_replies(
    url: str, auth_token: str, phones: list[str], *, first_sid: int = 0
) -> list[Prepared]:
    """One signed inbound-SMS webhook ("1") per number, posted to `url`; MessageSids are
    numbered from `first_sid`."""
    validator = RequestValidator(auth_token)
    replies = []
    for n, phone in enumerate(phones, start=first_sid):
        sid = f"SM{n:032x}"
        params = {
            "AccountSid": "AC" + "0" * 32,
            "ApiVersion": "2010-04-01",
            "Body": "1",
            "From": phone,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": TWILIO_FROM,
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": validator.compute_signature(url, params),
        }
        replies.append(Prepared(urlencode(params).encode(), headers))
    return replies


async def run_answers(
    standin: StandIn, workdir: Path, persons: int, *, profile: Path | None = None
) -> AnswersResult:
    roster = county(workdir / "roster", persons * ROUNDS)
    config = ServiceConfig(
        workdir=workdir,
        roster=roster.directory,
        policy=policy(workdir / "policy.yaml", SMS_ONLY),
        profile=profile,
    )
    async with aiohttp.ClientSession() as http, Service(config, standin) as service:
        await reset_standin(http, standin.url, callbacks=service.url)
        warning_id = await post_warning(
            http, service.url, county_warning(f"bench-answers-{time.time_ns()}")
        )

        async def all_notified() -> bool:
            return (await standin_count(http, standin.url)).sent >= persons * ROUNDS

        await until(all_notified, within=120 + persons * ROUNDS / 50, what="every person's SMS")
        url = f"{service.url}{INBOUND_SMS_PATH}"
        token = standin.auth_token
        phones = list(roster.grid_phones)
        rounds = [
            signed_replies(url, token, group, first_sid=n * persons)
            for n, group in enumerate(_split(phones, persons))
        ]
        per_second, refused = await _rounds(url, rounds)
        recorded = scalar(
            service.db_path, "SELECT count(*) FROM answers WHERE warning_id = ?", warning_id
        )
        # Numbers nobody in the roster owns; MessageSids after the persons' own.
        strangers = [f"+8617{n:09d}" for n in range(persons * ROUNDS)]
        unowned, _ = await _rounds(
            url,
            [
                signed_replies(url, token, group, first_sid=(ROUNDS + n) * persons)
                for n, group in enumerate(_split(strangers, persons))
            ],
        )
    baseline = await _standin_rate(f"{standin.url}/baseline/sms", rounds[0])
    signed_url = f"{standin.url}/baseline/signed"
    signed = await _standin_rate(signed_url, signed_replies(signed_url, token, phones[:persons]))
    return AnswersResult(
        answers=persons,
        recorded=recorded,
        refused=refused,
        per_second=per_second,
        baseline_per_second=baseline,
        unowned_per_second=unowned,
        signed_per_second=signed,
    )
