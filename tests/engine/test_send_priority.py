"""Under a channel's rate cap the next send out is the most urgent one waiting: a red
warning's before the blue ones queued earlier, two warnings of one level in turn.

The order is the one the provider sees (a recording channel), never a measured time.
"""

from __future__ import annotations

import asyncio

from channels.base import Notice, SendResult
from dispatcher.engine.channel_gate import ChannelGate
from dispatcher.engine.sender import ChannelLimits, Order, Sender
from tests.fakes import RecordingChannel
from tests.waiting import eventually

COUNTY = "20261206080000-county-blue"
TOWN = "20261206080500-town-blue"
VILLAGE = "20261206081000-xiaba-red"


def order(n: int, warning_id: str, level: str) -> Order:
    notice = Notice(
        key=f"r{n}:sms:0",
        channel="sms",
        kind="alert",
        address=f"+86138{n:08d}",
        text=f"【{level}】{warning_id} 第{n}条",
        warning_id=warning_id,
        level=level,
    )
    return Order(n, notice, recipient_id=n)


async def test_red_sends_go_before_the_blue_ones_queued_and_blue_warnings_take_turns() -> None:
    sms = RecordingChannel("sms")
    results: list[SendResult] = []

    async def report(result: SendResult) -> None:
        results.append(result)

    sender = Sender(
        {"sms": sms}, report, limits={"sms": ChannelLimits(concurrency=1, per_second=20.0)}
    )
    county = [order(n, COUNTY, "blue") for n in range(60)]
    await sender.submit(county)
    # A second's worth goes at once; the rest waits for the rate.
    await eventually(lambda: len(sms.sent) >= 20, within=10)
    sent_before = len(sms.sent)
    assert sent_before < 40, "the county's fan-out is under way, most of it still queued"
    town = [order(100 + n, TOWN, "blue") for n in range(4)]
    village = [order(200 + n, VILLAGE, "red") for n in range(5)]
    await sender.submit(town)
    await sender.submit(village)
    assert await sender.drain(10)

    after = [n.warning_id for n in sms.sent[sent_before:]]
    # At most the one send already let through goes before the red ones, which go next.
    first_red = after.index(VILLAGE)
    assert first_red <= 1, after[:8]
    assert after[first_red : first_red + 5] == [VILLAGE] * 5
    # Then the town's warning is not queued behind the county's: they alternate.
    rest = [w for w in after[first_red + 5 :]]
    assert rest[: 2 * len(town)].count(TOWN) == len(town), rest[:10]
    # Nothing lost, nothing twice.
    assert sorted(n.key for n in sms.sent) == sorted(o.notice.key for o in county + town + village)
    assert len(results) == 69


async def test_a_send_cancelled_while_it_waits_gives_its_turn_to_the_next() -> None:
    gate = ChannelGate(1, 1000.0)
    through: list[str] = []

    async def send(name: str, rank: int) -> None:
        async with gate.place(rank, name):
            through.append(name)
            await asyncio.sleep(0.01)

    first = asyncio.create_task(send("first", 1))
    await asyncio.sleep(0)  # holds the only place
    red = asyncio.create_task(send("red", 4))
    blue = asyncio.create_task(send("blue", 1))
    await asyncio.sleep(0)
    assert gate.queued == 2
    red.cancel()
    await asyncio.gather(first, blue, red, return_exceptions=True)
    assert through == ["first", "blue"]
    assert gate.queued == 0
    async with gate.place(1, "later"):  # the place it was given back is free again
        pass
