"""The Twilio voice channel: the real SDK against the stand-in, its tables and its TwiML."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from defusedxml import ElementTree

from channels.base import Notice, Reason, TransientDeliveryError
from channels.twilio_http import TwilioApi
from channels.twilio_sms import Report
from channels.twilio_voice import (
    TwilioVoice,
    amd_report,
    call_report,
    call_twiml,
    ending_twiml,
    replay_twiml,
)
from tests.channels.contract import ChannelContract
from tests.standins.twilio import TwilioStandIn

FROM = "+15005550006"
PUBLIC = "https://jiaoying.example.org/"
TO = "+8613900130004"
KEY = "17:voice:step-0"
QUOTED = "17%3Avoice%3Astep-0"
TEXT = "刘桂芳您好，这里是预警叫应平台。六合区暴雨红色预警。确认收到请按1，重听请按其他键。"
GATHER = f"https://jiaoying.example.org/callbacks/twilio/gather?key={QUOTED}"


def twilio_error(status: int, code: int, message: str) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@pytest.fixture
async def standin() -> AsyncIterator[TwilioStandIn]:
    async with TwilioStandIn() as server:
        yield server


@pytest.fixture
async def channel(standin: TwilioStandIn) -> AsyncIterator[TwilioVoice]:
    api = TwilioApi(standin.account_sid, standin.auth_token, api_base=standin.url, timeout=1.0)
    yield TwilioVoice(api, from_=FROM, public_url=PUBLIC)
    await api.close()


def make_notice(kind: str = "alert", **extra: str) -> Notice:
    return Notice(key=KEY, channel="voice", kind=kind, address=TO, text=TEXT, extra=extra)


@pytest.fixture
def notice() -> Notice:
    return make_notice()


class TestTwilioVoiceContract(ChannelContract):
    REJECTED = (
        400,
        twilio_error(400, 21217, f"Phone number {TO} is not a valid phone number."),
        {},
    )
    RATE_LIMITED = (429, twilio_error(429, 20429, "Too Many Requests"), {"Retry-After": "7"})
    SERVER_ERROR = (503, twilio_error(503, 20503, "Service Unavailable"), {})


async def test_the_sdk_places_the_call_with_twiml_url_callbacks_and_async_amd(
    channel: TwilioVoice, standin: TwilioStandIn, notice: Notice
) -> None:
    receipt = await channel.send(notice)

    assert receipt.provider_id.startswith("CA") and len(receipt.provider_id) == 34
    (request,) = standin.requests
    assert request.path == f"/2010-04-01/Accounts/{standin.account_sid}/Calls.json"
    base = "https://jiaoying.example.org/callbacks/twilio"
    assert request.one("To") == TO
    assert request.one("From") == FROM
    assert request.one("Url") == f"{base}/voice?key={QUOTED}"
    assert request.one("StatusCallback") == f"{base}/call-status?key={QUOTED}"
    assert request.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert request.one("MachineDetection") == "DetectMessageEnd"
    assert request.one("AsyncAmd") == "true"
    assert request.one("AsyncAmdStatusCallback") == f"{base}/amd?key={QUOTED}"
    assert request.one("Timeout") == "30"
    assert request.headers["Authorization"].startswith("Basic ")


async def test_a_server_error_is_not_retried_by_the_sdk(
    channel: TwilioVoice, standin: TwilioStandIn, notice: Notice
) -> None:
    standin.respond_next(500, twilio_error(500, 20500, "An internal server error has occurred"))
    with pytest.raises(TransientDeliveryError) as caught:
        await channel.send(notice)
    assert caught.value.reason is Reason.SERVER_ERROR
    assert len(standin.requests) == 1, "a retried POST could call the person twice"


VOICEMAIL = Report("failed", "voicemail", "answered by machine_end_beep")


@pytest.mark.parametrize(
    ("call_status", "answered_by", "expected"),
    [
        ("queued", None, Report("sent")),
        ("initiated", None, Report("sent")),
        ("ringing", None, Report("sent")),
        ("in-progress", None, Report("sent")),
        ("completed", None, Report("delivered")),
        ("completed", "human", Report("delivered")),
        ("completed", "unknown", Report("delivered")),
        ("completed", "machine_end_beep", VOICEMAIL),
        ("completed", "fax", Report("failed", "voicemail", "answered by fax")),
        ("busy", None, Report("failed", "unreachable", "busy")),
        ("no-answer", None, Report("failed", "unreachable", "no answer")),
        ("failed", None, Report("failed", "unreachable", "call failed")),
        ("canceled", None, Report("failed", "unreachable", "call canceled")),
        ("mystery", None, None),
    ],
)
def test_call_status_maps_to_jiaoying_statuses(
    call_status: str, answered_by: str | None, expected: Report | None
) -> None:
    assert call_report(call_status, answered_by) == expected


@pytest.mark.parametrize(
    ("answered_by", "machine"),
    [
        ("human", False),
        ("unknown", False),
        (None, False),
        ("machine_start", True),
        ("machine_end_beep", True),
        ("machine_end_silence", True),
        ("machine_end_other", True),
        ("fax", True),
    ],
)
def test_a_machine_verdict_fails_the_call_as_voicemail(
    answered_by: str | None, machine: bool
) -> None:
    report = amd_report(answered_by)
    if machine:
        assert report == Report("failed", "voicemail", f"answered by {answered_by}")
    else:
        assert report is None


def parse(document: Any) -> Any:
    return ElementTree.fromstring(str(document))


def test_the_text_is_read_in_mandarin_twice_inside_a_one_key_gather() -> None:
    root = parse(call_twiml(make_notice(), GATHER))
    (gather,) = list(root)
    assert gather.tag == "Gather"
    assert gather.attrib == {
        "numDigits": "1",
        "action": GATHER,
        "method": "POST",
        "timeout": "8",
        "actionOnEmptyResult": "true",
    }
    (say,) = list(gather)
    assert (say.tag, say.text) == ("Say", TEXT)
    assert say.get("language") == "cmn-CN"
    assert say.get("loop") == "2"


def test_with_full_message_a_key_counts_only_after_the_whole_text() -> None:
    root = parse(call_twiml(make_notice(full_message="1"), GATHER))
    say, gather = list(root)
    assert (say.tag, say.text, say.get("language"), say.get("loop")) == ("Say", TEXT, "cmn-CN", "2")
    assert gather.tag == "Gather" and gather.get("numDigits") == "1"
    assert TEXT not in "".join(gather.itertext()), "only a short prompt waits for the key"


@pytest.mark.parametrize("kind", ["cancel", "clear"])
def test_a_cancel_is_read_out_without_asking_for_a_key(kind: str) -> None:
    root = parse(call_twiml(make_notice(kind), GATHER))
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert root[0].text == TEXT


def test_an_unknown_notice_gets_a_short_apology_and_a_hangup() -> None:
    root = parse(call_twiml(None, GATHER))
    assert [verb.tag for verb in root] == ["Say", "Hangup"]
    assert root[0].get("language") == "cmn-CN"


def test_replay_and_ending() -> None:
    replay = parse(replay_twiml("https://j.example/callbacks/twilio/voice?key=k&replay=1"))
    assert [(v.tag, v.get("method"), v.text) for v in replay] == [
        ("Redirect", "POST", "https://j.example/callbacks/twilio/voice?key=k&replay=1")
    ]
    assert [v.tag for v in parse(ending_twiml("再见。"))] == ["Say", "Hangup"]
    assert [v.tag for v in parse(ending_twiml(None))] == ["Hangup"]
