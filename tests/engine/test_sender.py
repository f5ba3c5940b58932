"""The sender's short retry loop: bounded, Retry-After honoured, never a possible double send."""

from __future__ import annotations

import asyncio
import time

from channels.base import (
    Notice,
    PermanentDeliveryError,
    Reason,
    Receipt,
    SendResult,
    Status,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from dispatcher.engine.sender import ChannelLimits, Order, RetryPolicy, Sender


class ScriptedChannel:
    """Fails as scripted, then accepts; records when each try started and how many overlap."""

    simulated = False

    def __init__(self, name: str, failures: list[Exception], delay: float = 0.0) -> None:
        self.name = name
        self.failures = list(failures)
        self.delay = delay
        self.tries: list[float] = []
        self.running = 0
        self.most_at_once = 0

    async def send(self, notice: Notice) -> Receipt:
        self.tries.append(time.monotonic())
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.failures:
                raise self.failures.pop(0)
            return Receipt(f"{self.name}-{len(self.tries)}", Status.ACCEPTED)
        finally:
            self.running -= 1


def order(n: int = 1, channel: str = "sms") -> Order:
    return Order(
        n,
        Notice(key=f"k{n}", channel=channel, kind="alert", address="+8613800000001", text="测试"),
        recipient_id=n,
    )


async def run(channel: ScriptedChannel, *orders: Order, **kwargs: object) -> list[SendResult]:
    results: list[SendResult] = []

    async def report(result: SendResult) -> None:
        results.append(result)

    sender = Sender({channel.name: channel}, report, **kwargs)  # type: ignore[arg-type]
    await sender.submit(list(orders) or [order()])
    assert await sender.drain(10)
    return results


async def test_a_transient_failure_is_retried_until_it_goes_through() -> None:
    channel = ScriptedChannel("sms", [TransientDeliveryError(Reason.SERVER_ERROR)] * 2)
    (result,) = await run(channel, retry=RetryPolicy(backoff_max=0.05))
    assert (result.status, result.provider_id) == ("sent", "sms-3")
    assert len(channel.tries) == 3


async def test_retry_after_is_honoured() -> None:
    channel = ScriptedChannel("sms", [TransientDeliveryError(Reason.RATE_LIMITED, retry_after=0.3)])
    (result,) = await run(channel)
    assert result.status == "sent"
    assert channel.tries[1] - channel.tries[0] >= 0.29


async def test_retries_are_bounded_and_end_as_failed_with_the_reason() -> None:
    channel = ScriptedChannel("sms", [TransientDeliveryError(Reason.SERVER_ERROR)] * 10)
    (result,) = await run(channel, retry=RetryPolicy(attempts=3, backoff_max=0.01))
    assert (result.status, result.reason) == ("failed", "server_error")
    assert len(channel.tries) == 3


async def test_a_send_the_provider_may_have_taken_is_never_retried() -> None:
    channel = ScriptedChannel("sms", [UncertainDeliveryError(Reason.TIMEOUT, "no answer")])
    (result,) = await run(channel)
    assert (result.status, result.reason) == ("failed", "timeout")
    assert len(channel.tries) == 1, "a retried POST could send the SMS twice"


async def test_a_permanent_failure_is_not_retried() -> None:
    channel = ScriptedChannel("sms", [PermanentDeliveryError(Reason.INVALID_ADDRESS)])
    (result,) = await run(channel)
    assert (result.status, result.reason) == ("rejected", "invalid_address")
    assert len(channel.tries) == 1


async def test_a_crashing_adapter_fails_its_send_and_the_others_go_on() -> None:
    channel = ScriptedChannel("sms", [ValueError("bug")])
    results = await run(channel, order(1), order(2))
    assert sorted(r.status for r in results) == ["failed", "sent"]


async def test_concurrency_per_channel_is_bounded() -> None:
    channel = ScriptedChannel("sms", [], delay=0.05)
    results = await run(
        channel, *(order(n) for n in range(12)), limits={"sms": ChannelLimits(concurrency=3)}
    )
    assert len(results) == 12
    assert channel.most_at_once == 3


async def test_the_in_flight_window_holds_back_new_sends() -> None:
    channel = ScriptedChannel("sms", [], delay=0.2)
    results: list[SendResult] = []

    async def report(result: SendResult) -> None:
        results.append(result)

    sender = Sender({"sms": channel}, report, window=2)
    submitting = asyncio.create_task(sender.submit([order(n) for n in range(4)]))
    await asyncio.sleep(0.1)
    assert sender.in_flight == 2
    assert not submitting.done(), "submit waits while the window is full"
    await submitting
    assert await sender.drain(5)
    assert len(results) == 4
