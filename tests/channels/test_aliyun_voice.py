"""Alibaba Cloud voice: the official async SDK against the stand-in (ACS3 signature
checked): IvrCall where key 1 may answer, SingleCallByTts otherwise, the callee's cap."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from channels.aliyun_voice import AliyunVoice, ivr_answer
from channels.base import Notice, PermanentDeliveryError, Reason
from channels.provider_templates import ProviderTemplate
from tests.channels import test_aliyun_sms
from tests.channels.contract import ChannelContract
from tests.standins.aliyun import AliyunStandIn

TEMPLATES = {
    kind: ProviderTemplate(kind, f"TTS_28120{n}", ("name", "event"))
    for n, kind in enumerate(("alert", "update", "cancel", "clear", "escalation", "door_knock"))
}
IVR_NUMBER = "057188880000"
THANKS = "TTS_281299"


@pytest.fixture
async def standin() -> AsyncIterator[AliyunStandIn]:
    approved = {t.template_id: t.variables for t in TEMPLATES.values()}
    async with AliyunStandIn(templates=approved) as server:
        yield server


def voice_for(standin: AliyunStandIn, *, ivr: bool = True) -> AliyunVoice:
    return AliyunVoice(
        endpoint=standin.url,
        access_key_id=standin.key_id,
        access_key_secret=standin.secret,
        templates=TEMPLATES,
        ivr_number=IVR_NUMBER if ivr else None,
        thanks_code=THANKS if ivr else None,
        timeout=1.0,
    )


@pytest.fixture
def channel(standin: AliyunStandIn) -> AliyunVoice:
    return voice_for(standin)


@pytest.fixture
def notice() -> Notice:
    return Notice(
        key="17:voice:step-0",
        channel="voice",
        kind="alert",
        address="+8613900130001",
        text="刘桂芳您好，六合区暴雨红色预警……",
        title="暴雨红色预警",
        level="red",
        extra={"name": "刘桂芳"},
    )


class TestAliyunVoiceContract(ChannelContract):
    REJECTED = test_aliyun_sms.TestAliyunSmsContract.REJECTED
    RATE_LIMITED = test_aliyun_sms.TestAliyunSmsContract.RATE_LIMITED
    SERVER_ERROR = test_aliyun_sms.TestAliyunSmsContract.SERVER_ERROR

    @pytest.fixture
    def notice(self, notice: Notice, request: pytest.FixtureRequest) -> Notice:
        # One callee takes one call a minute: each test's calls go to its own number.
        return replace(notice, address=f"+86139{abs(hash(request.node.name)) % 10**8:08d}")


async def test_an_alert_is_an_ivr_call_whose_key_1_plays_the_thanks(
    channel: AliyunVoice, standin: AliyunStandIn, notice: Notice
) -> None:
    receipt = await channel.send(notice)
    (call,) = standin.calls
    assert (call.action, call.call_id) == ("IvrCall", receipt.provider_id)
    assert (call.called_number, call.show_number) == ("13900130001", IVR_NUMBER)
    assert (call.template, call.params) == (
        "TTS_281200",
        {"name": "刘桂芳", "event": "暴雨红色预警"},
    )
    assert call.menu == [{"Key": "1", "Code": THANKS}]
    assert standin.requests[0].query["PlayTimes"] == ["2"]


async def test_without_an_ivr_number_or_for_an_all_clear_the_call_only_reads_out(
    standin: AliyunStandIn, notice: Notice
) -> None:
    await voice_for(standin, ivr=False).send(notice)
    await voice_for(standin).send(replace(notice, kind="clear", address="+8613700001111"))
    assert [call.action for call in standin.calls] == ["SingleCallByTts"] * 2
    assert json.loads(standin.requests[0].query["TtsParam"][0])["name"] == "刘桂芳"


async def test_a_second_call_within_the_minute_is_capped(
    channel: AliyunVoice, standin: AliyunStandIn, notice: Notice
) -> None:
    await channel.send(notice)
    with pytest.raises(PermanentDeliveryError) as caught:
        await channel.send(replace(notice, key="17:voice:step-1"))
    assert caught.value.reason is Reason.CAPPED
    assert len(standin.calls) == 1


@pytest.mark.parametrize(
    ("dtmf", "answers"), [("1", True), ("21", True), ("2", False), ("", False), (None, False)]
)
def test_a_1_among_the_keys_pressed_answers(dtmf: str | None, answers: bool) -> None:
    assert ivr_answer(dtmf) is answers
