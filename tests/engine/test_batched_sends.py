"""The sender's batching: claimed sends to a batch channel share the provider's batch
requests (Alibaba Cloud's SendBatchSms through its stand-in), each keeping its own result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from channels.aliyun_sms import AliyunSms
from channels.base import Notice, Reason, SendResult
from dispatcher.engine.sender import ChannelLimits, Order, Sender
from tests.channels.test_aliyun_sms import APPROVED, TEMPLATES
from tests.standins.aliyun import SIGN_NAME, SMS_DAY_CAP, AliyunStandIn
from tests.waiting import eventually

NAMES = ["刘桂芳", "欧阳建国", "马丽", "阿不都热依木·买买提", "张三丰"]


@pytest.fixture
async def standin() -> AsyncIterator[AliyunStandIn]:
    async with AliyunStandIn(templates=APPROVED) as server:
        yield server


def channel_for(standin: AliyunStandIn) -> AliyunSms:
    return AliyunSms(
        endpoint=standin.url,
        access_key_id=standin.key_id,
        access_key_secret=standin.secret,
        sign_name=SIGN_NAME,
        templates=TEMPLATES,
        timeout=5.0,
    )


def orders(count: int, start: int = 0) -> list[Order]:
    return [
        Order(
            n,
            Notice(
                key=f"9:sms:{n}",
                channel="sms",
                kind="alert",
                address=f"+86139{n:08d}",
                text="【红色预警】…",
                title="暴雨红色预警",
                level="red",
                answer_url=f"https://jy.example.gov.cn/a/tok{n:028d}",
                extra={"name": NAMES[n % len(NAMES)]},
            ),
            recipient_id=n,
        )
        for n in range(start, start + count)
    ]


async def send_all(sender: Sender, batch: list[Order], results: list[SendResult]) -> None:
    await sender.submit(batch)
    await eventually(lambda: len(results) >= len(batch), within=20, what="every result")


async def test_two_hundred_and_fifty_sends_are_three_batch_requests_each_with_its_own_result(
    standin: AliyunStandIn,
) -> None:
    results: list[SendResult] = []

    async def report(result: SendResult) -> None:
        results.append(result)

    sender = Sender({"sms": channel_for(standin)}, report, window=256)
    await send_all(sender, orders(250), results)

    assert len(standin.requests) == 3
    assert sorted(sms.phone_number for sms in standin.sms) == sorted(
        f"139{n:08d}" for n in range(250)
    )
    assert {result.status for result in results} == {"sent"}
    assert len({result.provider_id for result in results}) == 250
    assert sorted(result.attempt_id for result in results) == list(range(250))


async def test_the_rate_limit_counts_batch_requests_not_persons(standin: AliyunStandIn) -> None:
    results: list[SendResult] = []

    async def report(result: SendResult) -> None:
        results.append(result)

    # Two requests a second: 200 persons still go out in one second, in two requests.
    limits = {"sms": ChannelLimits(concurrency=4, per_second=2.0)}
    sender = Sender({"sms": channel_for(standin)}, report, limits=limits)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await send_all(sender, orders(200), results)
    assert loop.time() - started < 1.5
    assert len(standin.requests) == 2


async def test_a_capped_person_is_rejected_as_capped_and_the_batch_goes_out(
    standin: AliyunStandIn,
) -> None:
    results: list[SendResult] = []

    async def report(result: SendResult) -> None:
        results.append(result)

    sender = Sender({"sms": channel_for(standin)}, report)
    capped = orders(1, start=7)
    for _ in range(SMS_DAY_CAP):
        await sender.submit(capped)
    await eventually(lambda: len(results) >= SMS_DAY_CAP, within=20, what="the cap reached")
    results.clear()

    await send_all(sender, orders(20), results)

    by_attempt = {result.attempt_id: result for result in results}
    assert by_attempt[7].status == "rejected" and by_attempt[7].reason == str(Reason.CAPPED)
    assert all(result.status == "sent" for n, result in by_attempt.items() if n != 7)
