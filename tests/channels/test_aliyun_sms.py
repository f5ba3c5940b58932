"""Alibaba Cloud SMS: the official async SDK against the stand-in, which checks each
request's ACS3-HMAC-SHA256 signature; batches, per-number caps and the code table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from channels.aliyun_api import classify
from channels.aliyun_sms import AliyunSms, aliyun_number, sms_provider_id
from channels.base import (
    DeliveryError,
    Notice,
    PermanentDeliveryError,
    Reason,
    Receipt,
    TransientDeliveryError,
)
from channels.provider_templates import ProviderTemplate
from tests.channels.contract import ChannelContract
from tests.standins.aliyun import SIGN_NAME, SMS_DAY_CAP, AliyunStandIn

TEMPLATES = {
    "alert": ProviderTemplate("alert", "SMS_468120001", ("name", "level", "event", "token")),
    "update": ProviderTemplate("update", "SMS_468120002", ("name", "event", "token")),
}
APPROVED = {template.template_id: template.variables for template in TEMPLATES.values()}
TO = "+8613900130001"
LINK = "https://jy.example.gov.cn/a/AbCdEfGhIjKlMnOpQrStUvWxYz01234"


def busy_refusal(code: str, message: str) -> dict[str, str]:
    return {"Code": code, "Message": message, "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}


@pytest.fixture
async def standin() -> AsyncIterator[AliyunStandIn]:
    async with AliyunStandIn(templates=APPROVED) as server:
        yield server


def channel_for(standin: AliyunStandIn, secret: str | None = None) -> AliyunSms:
    return AliyunSms(
        endpoint=standin.url,
        access_key_id=standin.key_id,
        access_key_secret=secret or standin.secret,
        sign_name=SIGN_NAME,
        templates=TEMPLATES,
        timeout=1.0,
    )


@pytest.fixture
def channel(standin: AliyunStandIn) -> AliyunSms:
    return channel_for(standin)


@pytest.fixture
def notice() -> Notice:
    return Notice(
        key="17:sms:step-0",
        channel="sms",
        kind="alert",
        address=TO,
        text="【红色预警】刘桂芳（白鹭洲社区第三网格）：六合区暴雨红色预警。请回复1确认收到。",
        title="暴雨红色预警",
        level="red",
        answer_url=LINK,
        extra={"name": "刘桂芳"},
    )


class TestAliyunSmsContract(ChannelContract):
    REJECTED = (200, busy_refusal("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"), {})
    RATE_LIMITED = (
        400,
        busy_refusal("Throttling.User", "Request was denied due to user flow control."),
        {"x-acs-retry-after": "7000"},
    )
    SERVER_ERROR = (500, busy_refusal("ServiceUnavailable", "temporary failure"), {})


async def test_a_batch_is_one_signed_request_with_each_person_s_own_values(
    channel: AliyunSms, standin: AliyunStandIn, notice: Notice
) -> None:
    persons = [
        ("刘桂芳", "+8613900130001"),
        ("欧阳建国", "+8615800001234"),
        ("马丽", "13700001111"),
    ]
    notices = [
        replace(notice, key=f"17:sms:{i}", address=number, extra={"name": name})
        for i, (name, number) in enumerate(persons)
    ]
    outcomes = await channel.send_batch(notices)

    assert len(standin.requests) == 1, "three persons, one SendBatchSms"
    assert standin.requests[0].headers["x-acs-action"] == "SendBatchSms"
    assert [sms.phone_number for sms in standin.sms] == [
        "13900130001",
        "15800001234",
        "13700001111",
    ]
    assert [sms.params["name"] for sms in standin.sms] == ["刘桂芳", "欧阳建国", "马丽"]
    assert standin.sms[0].params == {
        "name": "刘桂芳",
        "level": "红色",
        "event": "暴雨红色预警",
        "token": LINK.rsplit("/", 1)[1],
    }
    biz_id = standin.sms[0].biz_id
    assert outcomes == [Receipt(sms_provider_id(biz_id, sms.phone_number)) for sms in standin.sms]
    assert len({receipt.provider_id for receipt in outcomes if isinstance(receipt, Receipt)}) == 3


async def test_a_hundred_and_fifty_persons_of_two_kinds_take_three_requests_of_at_most_100(
    channel: AliyunSms, standin: AliyunStandIn, notice: Notice
) -> None:
    notices = [
        replace(
            notice, key=f"k{i}", address=f"+86139{i:08d}", kind="alert" if i < 120 else "update"
        )
        for i in range(150)
    ]
    outcomes = await channel.send_batch(notices)
    assert all(isinstance(outcome, Receipt) for outcome in outcomes)
    assert sorted(
        len(request.form["PhoneNumberJson"][0].split(",")) for request in standin.requests
    ) == [20, 30, 100]


async def test_a_person_over_the_daily_cap_fails_alone_as_capped(
    channel: AliyunSms, standin: AliyunStandIn, notice: Notice
) -> None:
    capped = replace(notice, key="capped", address="+8613900139999")
    for _ in range(SMS_DAY_CAP):
        await channel.send(capped)
    others = [replace(notice, key=f"k{i}", address=f"+86137{i:08d}") for i in range(5)]

    outcomes = await channel.send_batch([*others[:2], capped, *others[2:]])

    failed = outcomes[2]
    assert isinstance(failed, PermanentDeliveryError) and failed.reason is Reason.CAPPED
    assert all(isinstance(outcome, Receipt) for i, outcome in enumerate(outcomes) if i != 2)
    delivered = {sms.phone_number for sms in standin.sms}
    assert {aliyun_number(other.address) for other in others} <= delivered


async def test_a_wrong_secret_is_refused_by_the_signature_check(
    standin: AliyunStandIn, notice: Notice
) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        await channel_for(standin, secret="not-the-account-secret").send(notice)
    assert caught.value.reason is Reason.AUTH
    assert standin.refused_signatures == 1 and not standin.sms


async def test_a_kind_without_a_template_is_refused_before_any_request(
    channel: AliyunSms, standin: AliyunStandIn, notice: Notice
) -> None:
    with pytest.raises(PermanentDeliveryError):
        await channel.send(replace(notice, kind="door_knock"))
    assert not standin.requests


@pytest.mark.parametrize(
    ("code", "status", "kind", "reason"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", 200, PermanentDeliveryError, Reason.CAPPED),
        ("isv.MOBILE_NUMBER_ILLEGAL", 200, PermanentDeliveryError, Reason.INVALID_ADDRESS),
        ("isv.AMOUNT_NOT_ENOUGH", 200, PermanentDeliveryError, Reason.AUTH),
        ("SignatureDoesNotMatch", 400, PermanentDeliveryError, Reason.AUTH),
        ("Throttling.User", 400, TransientDeliveryError, Reason.RATE_LIMITED),
        ("isp.SYSTEM_ERROR", 200, TransientDeliveryError, Reason.SERVER_ERROR),
        ("SomethingNew", 503, TransientDeliveryError, Reason.SERVER_ERROR),
        ("SomethingNew", 200, PermanentDeliveryError, Reason.CLIENT_ERROR),
    ],
)
def test_alibaba_codes_classify(
    code: str, status: int, kind: type[DeliveryError], reason: Reason
) -> None:
    error = classify(code, status)
    assert type(error) is kind and error.reason is reason


def test_numbers_are_sent_as_alibaba_cloud_takes_them() -> None:
    assert aliyun_number("+8613900130001") == "13900130001"
    assert aliyun_number("008613900130001") == "13900130001"
    assert aliyun_number("13900130001") == "13900130001"
    assert sms_provider_id("B1", "+8613900130001") == sms_provider_id("B1", "13900130001")
