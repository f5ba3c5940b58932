"""The emergency-broadcast adapter against the stand-in of a platform's play API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest

from channels.base import (
    DeliveryError,
    Notice,
    PermanentDeliveryError,
    Reason,
    Status,
    TransientDeliveryError,
)
from channels.broadcast import Broadcast, PlayState, classify, ebm_id_for, play_request, play_state
from tests.channels.contract import ChannelContract
from tests.standins.broadcast import BroadcastStandIn, callback_key

ZONE = "441523100201"
PUBLIC_URL = "https://jiaoying.example.cn"
NOW = datetime(2026, 7, 19, 18, 0, 5, tzinfo=UTC)  # 2026-07-20 02:00:05 in Beijing
FAST = aiohttp.ClientTimeout(total=1.5)


@pytest.fixture
async def standin() -> AsyncIterator[BroadcastStandIn]:
    async with BroadcastStandIn() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def channel(standin: BroadcastStandIn, session: aiohttp.ClientSession) -> Broadcast:
    return Broadcast(
        session,
        url=standin.url,
        token=standin.token,
        public_url=PUBLIC_URL,
        timeout=FAST,
        clock=lambda: NOW,
    )


@pytest.fixture
def notice() -> Notice:
    return Notice(
        key=f"w-1:zone:{ZONE}:s1",
        channel="broadcast",
        kind="alert",
        address=ZONE,
        text="各位村民请注意：陆河县气象台发布暴雨红色预警信号。请立即转移。",
        title="暴雨红色预警",
        warning_id="w-1",
        level="red",
        valid_until=datetime(2026, 7, 20, 0, 0, tzinfo=UTC),
        extra={"area_code": ZONE},
    )


def changed(notice: Notice, **fields: Any) -> Notice:
    current = {name: getattr(notice, name) for name in notice.__slots__}
    return Notice(**{**current, **fields})


class TestBroadcastContract(ChannelContract):
    REJECTED = (404, {"error": "unknown_zone", "message": "no loudspeakers there"}, {})
    RATE_LIMITED = (429, {"error": "rate_limited", "message": "slow down"}, {"Retry-After": "7"})
    SERVER_ERROR = (503, {"error": "unavailable", "message": "busy"}, {})


class TestThePlayRequest:
    async def test_carries_the_ebm_fields_and_the_bearer_token(
        self, channel: Broadcast, standin: BroadcastStandIn, notice: Notice
    ) -> None:
        receipt = await channel.send(notice)

        (play,) = standin.plays
        assert receipt.provider_id == play["id"]
        assert receipt.status is Status.ACCEPTED
        assert standin.requests[0].headers["Authorization"] == f"Bearer {standin.token}"
        assert {k: v for k, v in play.items() if k not in ("id", "ebm_id", "callback_url")} == {
            "warning_id": "w-1",
            "msg_type": 1,
            "severity": 1,
            "event_type": "11B00",
            "zone_id": ZONE,
            "area_code": ZONE,
            "title": "暴雨红色预警",
            "tts_text": notice.text,
            "repeat": 3,
            "start_time": "2026-07-20 02:00:05",
            "end_time": "2026-07-20 08:00:00",
        }
        assert play["ebm_id"] == ebm_id_for(notice.key)
        assert play["callback_url"].startswith(f"{PUBLIC_URL}/callbacks/broadcast?key=")
        assert unquote(callback_key(play["callback_url"])) == notice.key

    def test_the_ebm_id_is_stable_per_send_and_differs_between_sends(self) -> None:
        assert ebm_id_for("w-1:zone:441523100201:s1") == ebm_id_for("w-1:zone:441523100201:s1")
        assert ebm_id_for("w-1:zone:441523100201:s1") != ebm_id_for("w-1:zone:441523100202:s1")
        assert len(ebm_id_for("k")) == 32

    async def test_a_retried_request_is_the_same_play(
        self, channel: Broadcast, standin: BroadcastStandIn, notice: Notice
    ) -> None:
        first = await channel.send(notice)
        again = await channel.send(notice)
        assert first.provider_id == again.provider_id
        assert len(standin.plays) == 1

    @pytest.mark.parametrize(
        ("level", "drill", "severity"),
        [
            ("red", False, 1),
            ("orange", False, 2),
            ("yellow", False, 3),
            ("blue", False, 4),
            ("", False, 0),
            ("red", True, 15),
            ("blue", True, 15),
        ],
    )
    def test_severity_follows_the_level_and_a_drill_is_a_test(
        self, notice: Notice, level: str, drill: bool, severity: int
    ) -> None:
        request = play_request(
            changed(notice, level=level, drill=drill), now=NOW, public_url=PUBLIC_URL
        )
        assert request["severity"] == severity

    @pytest.mark.parametrize(
        ("kind", "msg_type"),
        [("alert", 1), ("update", 1), ("cancel", 2), ("clear", 2)],
    )
    def test_a_cancel_or_clear_stops_the_play(
        self, notice: Notice, kind: str, msg_type: int
    ) -> None:
        request = play_request(changed(notice, kind=kind), now=NOW, public_url=PUBLIC_URL)
        assert request["msg_type"] == msg_type

    def test_without_an_expiry_it_plays_for_two_hours(self, notice: Notice) -> None:
        request = play_request(changed(notice, valid_until=None), now=NOW, public_url=PUBLIC_URL)
        assert request["end_time"] == "2026-07-20 04:00:05"

    def test_event_type_and_repeat_come_from_the_extras(self, notice: Notice) -> None:
        extra = {"event_type": "11B03", "repeat": "5", "area_code": ZONE}
        request = play_request(changed(notice, extra=extra), now=NOW, public_url=PUBLIC_URL)
        assert (request["event_type"], request["repeat"]) == ("11B03", 5)
        broken = play_request(
            changed(notice, extra={"repeat": "many"}), now=NOW, public_url=PUBLIC_URL
        )
        assert broken["repeat"] == 3

    async def test_a_zone_id_is_sent_as_the_roster_gives_it_with_its_area_code(
        self, channel: Broadcast, standin: BroadcastStandIn, notice: Notice
    ) -> None:
        # The river dam's speakers, known to the platform by a GD/J 080 resource code.
        dam = changed(notice, key="w-1:zone:dam:s1", address="44152310020103140102")
        await channel.send(dam)

        (play,) = standin.plays
        assert (play["zone_id"], play["area_code"]) == ("44152310020103140102", ZONE)

    async def test_a_zone_without_an_area_code_is_refused_before_any_request(
        self, channel: Broadcast, standin: BroadcastStandIn, notice: Notice
    ) -> None:
        for extra in ({}, {"area_code": "河田镇"}, {"area_code": "4415231002"}):
            with pytest.raises(PermanentDeliveryError) as caught:
                await channel.send(changed(notice, extra=extra))
            assert caught.value.reason is Reason.INVALID_ADDRESS
            assert "area code" in str(caught.value)
        assert not standin.requests

    async def test_an_expired_warning_is_not_played(
        self, channel: Broadcast, standin: BroadcastStandIn, notice: Notice
    ) -> None:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(changed(notice, valid_until=NOW - timedelta(minutes=1)))
        assert caught.value.reason is Reason.CLIENT_ERROR
        assert not standin.requests

    async def test_a_wrong_token_is_permanent(
        self, session: aiohttp.ClientSession, standin: BroadcastStandIn, notice: Notice
    ) -> None:
        wrong = Broadcast(
            session, url=standin.url, token="nope", public_url=PUBLIC_URL, clock=lambda: NOW
        )
        with pytest.raises(PermanentDeliveryError) as caught:
            await wrong.send(notice)
        assert caught.value.reason is Reason.AUTH

    async def test_a_zone_without_loudspeakers_is_an_invalid_address(
        self, channel: Broadcast, standin: BroadcastStandIn, notice: Notice
    ) -> None:
        standin.unknown_zones.add(ZONE)
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(notice)
        assert caught.value.reason is Reason.INVALID_ADDRESS


@pytest.mark.parametrize(
    ("status", "error", "retry_after", "kind", "reason", "wait"),
    [
        (401, "unauthorized", None, PermanentDeliveryError, Reason.AUTH, None),
        (403, None, None, PermanentDeliveryError, Reason.AUTH, None),
        (404, "unknown_area", None, PermanentDeliveryError, Reason.INVALID_ADDRESS, None),
        (404, None, None, PermanentDeliveryError, Reason.CLIENT_ERROR, None),
        (422, "invalid_request", None, PermanentDeliveryError, Reason.CLIENT_ERROR, None),
        (400, None, None, PermanentDeliveryError, Reason.CLIENT_ERROR, None),
        (408, None, None, TransientDeliveryError, Reason.TIMEOUT, None),
        (429, "rate_limited", 7.0, TransientDeliveryError, Reason.RATE_LIMITED, 7.0),
        (429, None, None, TransientDeliveryError, Reason.RATE_LIMITED, None),
        (500, None, None, TransientDeliveryError, Reason.SERVER_ERROR, None),
        (503, "unavailable", 20.0, TransientDeliveryError, Reason.SERVER_ERROR, 20.0),
    ],
)
def test_classify(
    status: int,
    error: str | None,
    retry_after: float | None,
    kind: type[DeliveryError],
    reason: Reason,
    wait: float | None,
) -> None:
    failure = classify(status, error, message="why", retry_after=retry_after)
    assert type(failure) is kind
    assert failure.reason is reason
    if isinstance(failure, TransientDeliveryError):
        assert failure.retry_after == wait


@pytest.mark.parametrize(
    ("value", "state"),
    [
        (3, PlayState.PLAYED),
        ("3", PlayState.PLAYED),
        ("播发成功", PlayState.PLAYED),
        ("播发中", PlayState.PLAYING),
        (4, PlayState.FAILED),
        ("播发取消", PlayState.CANCELLED),
        (0, PlayState.UNPROCESSED),
        (9, None),
        ("done", None),
        (True, None),
        (None, None),
    ],
)
def test_play_states_read_as_numbers_or_words(value: object, state: PlayState | None) -> None:
    assert play_state(value) is state
