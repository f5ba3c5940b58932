"""The Twilio SMS channel: the real SDK against the Twilio stand-in, and its tables."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from channels.base import (
    DeliveryError,
    Notice,
    PermanentDeliveryError,
    Reason,
    TransientDeliveryError,
)
from channels.http_json import retry_after_seconds
from channels.twilio_http import RoutedTwilioHttpClient, TwilioApi
from channels.twilio_sms import Report, TwilioSms, classify, sms_report, validity_period
from tests.channels.contract import ChannelContract
from tests.standins.base import free_socket
from tests.standins.twilio import TwilioStandIn

NOW = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)
FROM = "+15005550006"
PUBLIC = "https://jiaoying.example.org"
TO = "+8613900130001"
TIMEOUT = 1.0


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
async def api(standin: TwilioStandIn) -> AsyncIterator[TwilioApi]:
    api = TwilioApi(standin.account_sid, standin.auth_token, api_base=standin.url, timeout=TIMEOUT)
    yield api
    await api.close()


@pytest.fixture
def channel(api: TwilioApi) -> TwilioSms:
    return TwilioSms(api, from_=FROM, public_url=PUBLIC, clock=lambda: NOW)


@pytest.fixture
def notice() -> Notice:
    return Notice(
        key="17:sms:step-0",
        channel="sms",
        kind="alert",
        address=TO,
        text="【红色预警】刘桂芳：六合区暴雨红色预警。请立即组织转移。请回复1确认收到。",
        valid_until=NOW + timedelta(minutes=5),
    )


class TestTwilioSmsContract(ChannelContract):
    REJECTED = (
        400,
        twilio_error(400, 21211, f"The 'To' number {TO} is not a valid phone number."),
        {},
    )
    RATE_LIMITED = (429, twilio_error(429, 20429, "Too Many Requests"), {"Retry-After": "7"})
    SERVER_ERROR = (500, twilio_error(500, 20500, "An internal server error has occurred"), {})


async def test_the_sdk_request_carries_what_twilio_needs(
    channel: TwilioSms, standin: TwilioStandIn, notice: Notice
) -> None:
    receipt = await channel.send(notice)

    assert receipt.provider_id.startswith("SM") and len(receipt.provider_id) == 34
    assert receipt.provider_id in standin.messages
    (request,) = standin.requests
    assert request.path == f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
    assert request.one("To") == TO
    assert request.one("From") == FROM
    assert request.one("Body") == notice.text
    assert (
        request.one("StatusCallback") == f"{PUBLIC}/callbacks/twilio/status?key=17%3Asms%3Astep-0"
    )
    assert request.one("ValidityPeriod") == "300"
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{standin.account_sid}:{standin.auth_token}"


@pytest.mark.parametrize(
    ("valid_until", "seconds"),
    [
        (None, 600),
        (NOW + timedelta(minutes=5), 300),
        (NOW + timedelta(seconds=299, microseconds=1), 300),
        (NOW + timedelta(seconds=20), 60),
        (NOW - timedelta(minutes=1), 60),
        (NOW + timedelta(hours=2), 600),
    ],
)
def test_validity_period_lasts_until_the_warning_ends_within_one_to_ten_minutes(
    valid_until: datetime | None, seconds: int
) -> None:
    assert validity_period(valid_until, NOW) == seconds


@pytest.mark.parametrize(
    ("status", "code", "kind", "reason"),
    [
        (400, 21211, PermanentDeliveryError, Reason.INVALID_ADDRESS),
        (400, 21614, PermanentDeliveryError, Reason.INVALID_ADDRESS),
        (400, 21217, PermanentDeliveryError, Reason.INVALID_ADDRESS),
        (400, 21610, PermanentDeliveryError, Reason.UNSUBSCRIBED),
        (400, 21612, PermanentDeliveryError, Reason.UNREACHABLE),
        (400, 21408, PermanentDeliveryError, Reason.CLIENT_ERROR),
        (400, 21602, PermanentDeliveryError, Reason.CLIENT_ERROR),
        (404, 20404, PermanentDeliveryError, Reason.CLIENT_ERROR),
        (400, None, PermanentDeliveryError, Reason.CLIENT_ERROR),
        (401, 20003, PermanentDeliveryError, Reason.AUTH),
        (403, None, PermanentDeliveryError, Reason.AUTH),
        (429, 20429, TransientDeliveryError, Reason.RATE_LIMITED),
        (429, None, TransientDeliveryError, Reason.RATE_LIMITED),
        (400, 20429, TransientDeliveryError, Reason.RATE_LIMITED),
        (500, 20500, TransientDeliveryError, Reason.SERVER_ERROR),
        (502, None, TransientDeliveryError, Reason.SERVER_ERROR),
        (503, 20503, TransientDeliveryError, Reason.SERVER_ERROR),
        (302, None, TransientDeliveryError, Reason.SERVER_ERROR),
    ],
)
def test_classify(status: int, code: int | None, kind: type[DeliveryError], reason: Reason) -> None:
    error = classify(status, code)
    assert type(error) is kind
    assert error.reason is reason
    assert str(status) in error.detail


@pytest.mark.parametrize(
    ("message_status", "error_code", "expected"),
    [
        ("queued", None, Report("sent")),
        ("sending", None, Report("sent")),
        ("sent", None, Report("sent")),
        ("accepted", None, Report("sent")),
        ("delivered", None, Report("delivered")),
        ("Delivered", "0", Report("delivered")),
        ("read", None, Report("delivered")),
        (
            "undelivered",
            "30005",
            Report("rejected", "invalid_address", "Twilio undelivered, error 30005"),
        ),
        (
            "undelivered",
            "30006",
            Report("rejected", "unreachable", "Twilio undelivered, error 30006"),
        ),
        (
            "undelivered",
            "30007",
            Report("rejected", "client_error", "Twilio undelivered, error 30007"),
        ),
        (
            "undelivered",
            "30008",
            Report("rejected", "unreachable", "Twilio undelivered, error 30008"),
        ),
        ("failed", "21610", Report("rejected", "unsubscribed", "Twilio failed, error 21610")),
        (
            "undelivered",
            "30004",
            Report("rejected", "unsubscribed", "Twilio undelivered, error 30004"),
        ),
        (
            "undelivered",
            "30003",
            Report("failed", "unreachable", "Twilio undelivered, error 30003"),
        ),
        ("failed", "30003", Report("failed", "unreachable", "Twilio failed, error 30003")),
        ("failed", "39999", Report("failed", "unreachable", "Twilio failed, error 39999")),
        ("failed", None, Report("failed", "unreachable", "Twilio failed")),
        ("undelivered", "garbled", Report("failed", "unreachable", "Twilio undelivered")),
        ("received", None, None),
        ("receiving", None, None),
    ],
)
def test_status_callbacks_map_to_jiaoying_statuses(
    message_status: str, error_code: str | None, expected: Report | None
) -> None:
    assert sms_report(message_status, error_code) == expected


async def test_a_server_error_is_not_retried_by_the_sdk(
    channel: TwilioSms, standin: TwilioStandIn, notice: Notice
) -> None:
    standin.respond_next(500, twilio_error(500, 20500, "An internal server error has occurred"))
    with pytest.raises(TransientDeliveryError):
        await channel.send(notice)
    assert len(standin.requests) == 1, "a retried POST could send the warning twice"


async def test_a_stalled_provider_times_out_within_the_configured_timeout(
    channel: TwilioSms, standin: TwilioStandIn, notice: Notice
) -> None:
    standin.stall_next(30.0)
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError) as caught:
        await channel.send(notice)
    assert caught.value.reason is Reason.TIMEOUT
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 1.5


async def test_a_retry_after_date_is_read_as_seconds_to_wait(
    channel: TwilioSms, standin: TwilioStandIn, notice: Notice
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    standin.respond_next(429, twilio_error(429, 20429, "Too Many Requests"), {"Retry-After": when})
    with pytest.raises(TransientDeliveryError) as caught:
        await channel.send(notice)
    assert caught.value.retry_after == pytest.approx(30, abs=2)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0.5 ", 0.5),
        ("-3", 0.0),
        ("Mon, 20 Jul 2026 02:01:00 GMT", 60.0),
        ("Mon, 20 Jul 2026 01:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds


async def test_wrong_credentials_are_a_permanent_auth_failure_that_names_no_secret(
    standin: TwilioStandIn, notice: Notice
) -> None:
    wrong = "not-the-token-" + "ab" * 8
    api = TwilioApi(standin.account_sid, wrong, api_base=standin.url, timeout=TIMEOUT)
    try:
        with pytest.raises(PermanentDeliveryError) as caught:
            await TwilioSms(api, from_=FROM, public_url=PUBLIC).send(notice)
    finally:
        await api.close()
    assert caught.value.reason is Reason.AUTH
    assert wrong not in f"{caught.value} {caught.value!r} {api!r}"
    assert not standin.messages


async def test_region_and_edge_settings_cannot_send_it_elsewhere(
    channel: TwilioSms, standin: TwilioStandIn, notice: Notice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    receipt = await channel.send(notice)
    assert receipt.provider_id in standin.messages


async def test_routing_keeps_the_path_and_query() -> None:
    http = RoutedTwilioHttpClient("http://127.0.0.1:9")
    try:
        url = "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Messages.json?a=1"
        assert http.route(url) == "http://127.0.0.1:9/2010-04-01/Accounts/AC1/Messages.json?a=1"
    finally:
        await http.close()
    plain = RoutedTwilioHttpClient(None)
    try:
        assert plain.route("https://api.twilio.com/x") == "https://api.twilio.com/x"
    finally:
        await plain.close()


async def test_a_refused_connection_is_transient(notice: Notice) -> None:
    closed = free_socket()  # bound, never listening: connections are refused
    host, port = closed.getsockname()[:2]
    api = TwilioApi("AC" + "0" * 32, "token", api_base=f"http://{host}:{port}", timeout=TIMEOUT)
    try:
        with pytest.raises(TransientDeliveryError) as caught:
            await TwilioSms(api, from_=FROM, public_url=PUBLIC).send(notice)
    finally:
        await api.close()
        closed.close()
    assert caught.value.reason is Reason.CONNECTION


async def test_fault_modes_of_the_standin_reach_the_channel_as_transient_failures(
    channel: TwilioSms, standin: TwilioStandIn, notice: Notice
) -> None:
    standin.reset_connections = True
    with pytest.raises(TransientDeliveryError) as reset:
        await channel.send(notice)
    assert reset.value.reason is Reason.CONNECTION

    standin.reset_connections = False
    standin.error_rate = 1.0
    with pytest.raises(TransientDeliveryError) as failing:
        await channel.send(notice)
    assert failing.value.reason is Reason.SERVER_ERROR

    standin.error_rate = 0.0
    standin.rate_limit = 1
    standin.rate_limit_retry_after = 2.0
    await channel.send(notice)
    with pytest.raises(TransientDeliveryError) as limited:
        await channel.send(notice)
    assert limited.value.reason is Reason.RATE_LIMITED
    assert limited.value.retry_after == 2.0


def test_the_channel_can_be_built_before_the_event_loop_runs() -> None:
    api = TwilioApi("AC" + "0" * 32, "secret-token-value", api_base="http://127.0.0.1:9")
    channel = TwilioSms(api, from_=FROM, public_url=PUBLIC)
    assert (channel.name, channel.simulated) == ("sms", False)
    assert "secret-token-value" not in repr(api)
