"""Tencent Cloud SMS and voice messages: the official (synchronous) SDK on its bounded
thread pool, against the stand-in that checks each request's TC3-HMAC-SHA256 signature."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from channels.base import Notice, PermanentDeliveryError, Reason, Receipt
from channels.provider_templates import ProviderTemplate
from channels.tencent_api import SdkPool
from channels.tencent_sms import TencentSms, tencent_number
from channels.tencent_voice import TencentVoice, in_quiet_hours
from tests.channels.contract import ChannelContract
from tests.standins.tencent import SIGN_NAME, SMS_APP_ID, VMS_APP_ID, TencentStandIn

SMS_TEMPLATES = {
    "alert": ProviderTemplate("alert", "1928301", ("name", "event", "level", "token")),
    "cancel": ProviderTemplate("cancel", "1928303", ("event",)),
}
VOICE_TEMPLATES = {"alert": ProviderTemplate("alert", "2928301", ("name", "event"))}
APPROVED = {
    t.template_id: len(t.variables) for t in (*SMS_TEMPLATES.values(), *VOICE_TEMPLATES.values())
}
DAYTIME = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
TO = "+8613900130001"


def refusal(code: str) -> bytes:
    return json.dumps(
        {"Response": {"Error": {"Code": code, "Message": "x"}, "RequestId": "r"}}
    ).encode()


JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def standin() -> AsyncIterator[TencentStandIn]:
    async with TencentStandIn(templates=APPROVED) as server:
        yield server


@pytest.fixture
def pool() -> Iterator[SdkPool]:
    pool = SdkPool(threads=4)
    yield pool
    pool.close()


def sms_for(standin: TencentStandIn, pool: SdkPool, key: str | None = None) -> TencentSms:
    return TencentSms(
        endpoint=standin.url,
        secret_id=standin.secret_id,
        secret_key=key or standin.secret_key,
        region="ap-guangzhou",
        app_id=SMS_APP_ID,
        sign_name=SIGN_NAME,
        templates=SMS_TEMPLATES,
        pool=pool,
        timeout=1.0,
    )


def voice_for(standin: TencentStandIn, pool: SdkPool, now: datetime = DAYTIME) -> TencentVoice:
    return TencentVoice(
        endpoint=standin.url,
        secret_id=standin.secret_id,
        secret_key=standin.secret_key,
        region="ap-guangzhou",
        app_id=VMS_APP_ID,
        templates=VOICE_TEMPLATES,
        pool=pool,
        timeout=1.0,
        clock=lambda: now,
    )


@pytest.fixture
def notice() -> Notice:
    return Notice(
        key="21:sms:step-0",
        channel="sms",
        kind="alert",
        address=TO,
        text="…",
        title="暴雨红色预警",
        level="red",
        answer_url="https://jy.example.gov.cn/a/tok0123456789012345678901234567",
        extra={"name": "刘桂芳"},
    )


class TestTencentSmsContract(ChannelContract):
    REJECTED = (
        200,
        json.dumps(
            {
                "Response": {
                    "SendStatusSet": [
                        {
                            "SerialNo": "",
                            "PhoneNumber": TO,
                            "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                            "Message": "x",
                        }
                    ],
                    "RequestId": "r",
                }
            }
        ).encode(),
        JSON,
    )
    RATE_LIMITED = (429, "too many requests", {"Retry-After": "7"})
    SERVER_ERROR = (503, "service unavailable", {})

    @pytest.fixture
    def channel(self, standin: TencentStandIn, pool: SdkPool) -> TencentSms:
        return sms_for(standin, pool)


class TestTencentVoiceContract(ChannelContract):
    REJECTED = (200, refusal("InvalidParameterValue.IncorrectPhoneNumber"), JSON)
    RATE_LIMITED = TestTencentSmsContract.RATE_LIMITED
    SERVER_ERROR = TestTencentSmsContract.SERVER_ERROR

    @pytest.fixture
    def channel(self, standin: TencentStandIn, pool: SdkPool) -> TencentVoice:
        return voice_for(standin, pool)

    @pytest.fixture
    def notice(self, notice: Notice, request: pytest.FixtureRequest) -> Notice:
        # One callee takes one call per 30 s: each test calls its own number.
        return replace(
            notice, channel="voice", address=f"+86137{abs(hash(request.node.name)) % 10**8:08d}"
        )


async def test_sms_with_the_person_s_values_go_one_a_request_and_same_values_share_one(
    standin: TencentStandIn, pool: SdkPool, notice: Notice
) -> None:
    channel = sms_for(standin, pool)
    named = [
        replace(notice, key=f"a{i}", address=f"+86139{i:08d}", extra={"name": f"网格员{i}"})
        for i in range(3)
    ]
    cancels = [
        replace(notice, key=f"c{i}", kind="cancel", address=f"+86138{i:08d}") for i in range(250)
    ]
    outcomes = await channel.send_batch([*named, *cancels])

    assert all(isinstance(outcome, Receipt) for outcome in outcomes)
    sizes = sorted(len(json.loads(r.body)["PhoneNumberSet"]) for r in standin.requests)
    assert sizes == [1, 1, 1, 50, 200]
    first = next(sms for sms in standin.sms if sms.phone_number == "+8613900000000")
    assert first.params == ["网格员0", "暴雨红色预警", "红色", "tok0123456789012345678901234567"]
    assert outcomes[0] == Receipt(first.serial_no)


async def test_a_number_over_its_daily_cap_fails_alone_as_capped(
    standin: TencentStandIn, pool: SdkPool, notice: Notice
) -> None:
    channel = sms_for(standin, pool)
    standin.sms_daily_cap = 1
    await channel.send(replace(notice, kind="cancel"))
    others = [
        replace(notice, key=f"c{i}", kind="cancel", address=f"+86138{i:08d}") for i in range(3)
    ]
    outcomes = await channel.send_batch([replace(notice, key="again", kind="cancel"), *others])
    assert isinstance(outcomes[0], PermanentDeliveryError) and outcomes[0].reason is Reason.CAPPED
    assert all(isinstance(outcome, Receipt) for outcome in outcomes[1:])


async def test_a_wrong_key_is_refused_by_the_signature_check(
    standin: TencentStandIn, pool: SdkPool, notice: Notice
) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        await sms_for(standin, pool, key="not-the-key").send(notice)
    assert caught.value.reason is Reason.AUTH and standin.refused_signatures == 1


async def test_a_call_reads_the_approved_template_and_a_second_within_30_s_is_capped(
    standin: TencentStandIn, pool: SdkPool, notice: Notice
) -> None:
    channel = voice_for(standin, pool)
    receipt = await channel.send(replace(notice, channel="voice"))
    (call,) = standin.calls
    assert (call.call_id, call.called_number, call.params) == (
        receipt.provider_id,
        TO,
        ["刘桂芳", "暴雨红色预警"],
    )
    with pytest.raises(PermanentDeliveryError) as caught:
        await channel.send(replace(notice, key="again", channel="voice"))
    assert caught.value.reason is Reason.CAPPED


async def test_no_call_is_placed_at_night(
    standin: TencentStandIn, pool: SdkPool, notice: Notice
) -> None:
    night = datetime(2026, 7, 20, 18, 30, tzinfo=UTC)  # 02:30 in Beijing
    with pytest.raises(PermanentDeliveryError) as caught:
        await voice_for(standin, pool, now=night).send(replace(notice, channel="voice"))
    assert caught.value.reason is Reason.CAPPED and not standin.requests


@pytest.mark.parametrize(
    ("hour_utc", "quiet"), [(13, False), (14, True), (23, True), (0, False), (2, False)]
)
def test_quiet_hours_are_22_to_8_beijing_time(hour_utc: int, quiet: bool) -> None:
    assert in_quiet_hours(datetime(2026, 7, 20, hour_utc, tzinfo=UTC)) is quiet


def test_numbers_are_e164() -> None:
    assert tencent_number("13900130001") == "+8613900130001"
    assert tencent_number("008613900130001") == "+8613900130001"
    assert tencent_number(TO) == TO
