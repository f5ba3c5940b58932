"""The WeChat template-message adapter against the stand-in of the Official Account API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

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
from channels.wechat import WeChatTemplate, client_msg_id, template_message
from channels.wechat_errcodes import classify
from channels.wechat_token import AccessTokens
from tests.channels.contract import ChannelContract
from tests.standins.wechat import SEND_PATH, WeChatStandIn

OPENID = "oX3pRn_GFvDwCqpcr54dAyA9uecU"
TEMPLATE_ID = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"
ANSWER_URL = "https://jiaoying.example.cn/a/AbCdEfGhIjKlMnOpQrStUvWxYz01234"
FAST = aiohttp.ClientTimeout(total=1.5)
SENT_AT = datetime(2026, 7, 19, 18, 0, 5, tzinfo=UTC)  # 02:00:05 on the 20th in Beijing


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def standin() -> AsyncIterator[WeChatStandIn]:
    async with WeChatStandIn() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens(
    standin: WeChatStandIn, session: aiohttp.ClientSession, clock: FakeClock
) -> AccessTokens:
    return AccessTokens(
        session,
        api_base=standin.url,
        appid=standin.appid,
        appsecret=standin.appsecret,
        timeout=FAST,
        clock=clock,
    )


@pytest.fixture
def channel(
    standin: WeChatStandIn, session: aiohttp.ClientSession, tokens: AccessTokens
) -> WeChatTemplate:
    return WeChatTemplate(
        session,
        tokens,
        template_id=TEMPLATE_ID,
        api_base=standin.url,
        timeout=FAST,
        clock=lambda: SENT_AT,
    )


@pytest.fixture
def notice() -> Notice:
    return Notice(
        key="17:wechat:s0",
        channel="wechat",
        kind="alert",
        address=OPENID,
        text="【红色预警】黄伟明：陆河县气象台发布暴雨红色预警信号。请点击本消息确认收到。",
        title="暴雨红色预警",
        warning_id="w-1",
        level="red",
        answer_url=ANSWER_URL,
    )


def sends(standin: WeChatStandIn) -> list[Any]:
    return [r for r in standin.requests if r.path == SEND_PATH]


class TestWeChatContract(ChannelContract):
    REJECTED = (200, {"errcode": 43004, "errmsg": "require subscribe"}, {})
    RATE_LIMITED = (429, {"errcode": 45011, "errmsg": "busy gateway"}, {"Retry-After": "7"})
    SERVER_ERROR = (200, {"errcode": -1, "errmsg": "system error"}, {})


class TestTheTemplateMessage:
    async def test_goes_to_the_openid_with_the_answer_link_and_the_key(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        receipt = await channel.send(notice)

        (message,) = standin.messages
        assert receipt.provider_id == str(message["msgid"])
        assert receipt.status is Status.ACCEPTED
        assert message["touser"] == OPENID
        assert message["template_id"] == TEMPLATE_ID
        assert message["url"] == ANSWER_URL
        assert message["client_msg_id"] == notice.key
        assert message["data"] == {
            "first": {"value": "暴雨红色预警"},
            "keyword1": {"value": "暴雨红色预警"},
            "keyword2": {"value": "红色预警"},
            "keyword3": {"value": "2026-07-20 02:00"},
            "remark": {"value": notice.text},
        }

    def test_has_no_url_without_an_answer_link(self, notice: Notice) -> None:
        plain = Notice(**{**_fields(notice), "answer_url": None})
        assert "url" not in template_message(plain, TEMPLATE_ID, SENT_AT)

    def test_keywords_fit_in_twenty_characters_on_one_line(self, notice: Notice) -> None:
        long = Notice(
            **{
                **_fields(notice),
                "title": "【演练】山洪灾害\n红色预警：河田镇人民社区及新田村沿河低洼地带",
            }
        )
        keyword = template_message(long, TEMPLATE_ID, SENT_AT)["data"]["keyword1"]["value"]
        assert len(keyword) == 20
        assert keyword.startswith("【演练】山洪灾害 红色预警")
        assert keyword.endswith("…")

    @pytest.mark.parametrize(
        ("kind", "level", "words"),
        [
            ("alert", "orange", "橙色预警"),
            ("update", "blue", "蓝色预警"),
            ("cancel", "red", "预警取消"),
            ("clear", "yellow", "预警解除"),
            ("alert", "", "预警"),
        ],
    )
    def test_names_the_level_or_the_end(
        self, notice: Notice, kind: str, level: str, words: str
    ) -> None:
        changed = Notice(**{**_fields(notice), "kind": kind, "level": level})
        assert template_message(changed, TEMPLATE_ID, SENT_AT)["data"]["keyword2"]["value"] == words

    def test_an_overlong_key_becomes_a_stable_short_dedupe_id(self) -> None:
        key = "s1234567:wechat:" + "x" * 40
        assert len(client_msg_id(key)) == 32
        assert client_msg_id(key) == client_msg_id(key)
        assert client_msg_id(key) != client_msg_id(key + "y")

    async def test_a_retried_send_is_delivered_once(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        first = await channel.send(notice)
        again = await channel.send(notice)
        assert first == again
        assert len(standin.messages) == 1

    async def test_an_openid_that_does_not_follow_the_account_is_unsubscribed(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        standin.unsubscribed.add(OPENID)
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(notice)
        assert caught.value.reason is Reason.UNSUBSCRIBED


def _fields(notice: Notice) -> dict[str, Any]:
    return {name: getattr(notice, name) for name in notice.__slots__}


@pytest.mark.parametrize(
    ("status", "errcode", "retry_after", "kind", "reason", "wait"),
    [
        (200, 40001, None, TransientDeliveryError, Reason.AUTH, None),
        (200, 40014, None, TransientDeliveryError, Reason.AUTH, None),
        (200, 42001, None, TransientDeliveryError, Reason.AUTH, None),
        (200, -1, None, TransientDeliveryError, Reason.SERVER_ERROR, None),
        (200, 45009, None, TransientDeliveryError, Reason.RATE_LIMITED, 60.0),
        (200, 45011, None, TransientDeliveryError, Reason.RATE_LIMITED, 60.0),
        (200, 43004, None, PermanentDeliveryError, Reason.UNSUBSCRIBED, None),
        (200, 43101, None, PermanentDeliveryError, Reason.UNSUBSCRIBED, None),
        (200, 40003, None, PermanentDeliveryError, Reason.INVALID_ADDRESS, None),
        (200, 40037, None, PermanentDeliveryError, Reason.CLIENT_ERROR, None),
        (200, 47003, None, PermanentDeliveryError, Reason.CLIENT_ERROR, None),
        (200, 40013, None, PermanentDeliveryError, Reason.AUTH, None),
        (200, 40125, None, PermanentDeliveryError, Reason.AUTH, None),
        (200, 40164, None, PermanentDeliveryError, Reason.AUTH, None),
        (200, 99999, None, PermanentDeliveryError, Reason.CLIENT_ERROR, None),
        (200, None, None, TransientDeliveryError, Reason.SERVER_ERROR, None),
        (200, 0, None, TransientDeliveryError, Reason.SERVER_ERROR, None),
        (429, None, 7.0, TransientDeliveryError, Reason.RATE_LIMITED, 7.0),
        (429, None, None, TransientDeliveryError, Reason.RATE_LIMITED, None),
        (500, None, None, TransientDeliveryError, Reason.SERVER_ERROR, None),
        (502, None, None, TransientDeliveryError, Reason.SERVER_ERROR, None),
        (503, None, 30.0, TransientDeliveryError, Reason.SERVER_ERROR, 30.0),
        (408, None, None, TransientDeliveryError, Reason.TIMEOUT, None),
        (401, None, None, PermanentDeliveryError, Reason.AUTH, None),
        (403, None, None, PermanentDeliveryError, Reason.AUTH, None),
        (404, None, None, PermanentDeliveryError, Reason.CLIENT_ERROR, None),
    ],
)
def test_classify(
    status: int,
    errcode: int | None,
    retry_after: float | None,
    kind: type[DeliveryError],
    reason: Reason,
    wait: float | None,
) -> None:
    error = classify(status, errcode, errmsg="rid: 1", retry_after=retry_after)
    assert type(error) is kind
    assert error.reason is reason
    if isinstance(error, TransientDeliveryError):
        assert error.retry_after == wait


class TestTheAccessToken:
    async def test_many_concurrent_sends_fetch_it_once(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        notices = [Notice(**{**_fields(notice), "key": f"{n}:wechat:s0"}) for n in range(20)]
        await asyncio.gather(*(channel.send(n) for n in notices))
        assert standin.token_fetches == 1
        assert len(standin.messages) == 20

    async def test_is_refreshed_ahead_of_expiry(
        self, tokens: AccessTokens, standin: WeChatStandIn, clock: FakeClock
    ) -> None:
        first = await tokens.get()
        clock.now += 7200 - 301  # just over five minutes left: still good
        assert await tokens.get() == first
        clock.now += 2  # under five minutes left: WeChat lets both overlap, so refresh now
        second = await tokens.get()
        assert second != first
        assert standin.token_fetches == 2
        assert await tokens.get() == second

    async def test_an_expired_token_is_refreshed_once_and_the_send_retried(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        await channel.send(notice)
        standin.expire_tokens()
        later = Notice(**{**_fields(notice), "key": "18:wechat:s0"})

        receipt = await channel.send(later)

        assert receipt.provider_id == str(standin.messages[-1]["msgid"])
        assert standin.token_fetches == 2
        codes = [r.query["access_token"][0] for r in sends(standin)]
        assert len(codes) == 3  # the first send, the refused try, the retry
        assert codes[1] != codes[2] == standin.current_token

    async def test_two_sends_refused_at_once_cause_one_refresh(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        await channel.send(notice)
        standin.revoke_tokens()
        standin.token_delay = 0.2  # the refresh is still running when the second 40001 lands
        others = [Notice(**{**_fields(notice), "key": f"{n}:wechat:s1"}) for n in (1, 2)]

        receipts = await asyncio.gather(*(channel.send(n) for n in others))

        assert len({r.provider_id for r in receipts}) == 2
        assert standin.token_fetches == 2

    async def test_a_token_refused_again_after_the_refresh_is_transient(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        refused = {"errcode": 40001, "errmsg": "invalid credential"}
        standin.respond_next(200, refused)
        standin.respond_next(200, refused)
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(notice)
        assert caught.value.reason is Reason.AUTH
        assert len(sends(standin)) == 2  # one retry, not a loop
        assert standin.token_fetches == 2

    async def test_a_wrong_appsecret_is_permanent_and_named(
        self, session: aiohttp.ClientSession, standin: WeChatStandIn, notice: Notice
    ) -> None:
        tokens = AccessTokens(
            session, api_base=standin.url, appid=standin.appid, appsecret="not-the-secret"
        )
        channel = WeChatTemplate(session, tokens, template_id=TEMPLATE_ID, api_base=standin.url)
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(notice)
        assert caught.value.reason is Reason.AUTH
        assert "40125" in caught.value.detail
        assert "not-the-secret" not in str(caught.value)
        assert not sends(standin)

    async def test_a_busy_wechat_is_transient_and_costs_one_fetch_for_all_waiting(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        standin.respond_next_token(200, {"errcode": -1, "errmsg": "system error"})
        notices = [Notice(**{**_fields(notice), "key": f"{n}:wechat:s0"}) for n in range(10)]
        results = await asyncio.gather(*(channel.send(n) for n in notices), return_exceptions=True)
        assert all(isinstance(r, TransientDeliveryError) for r in results)
        assert {r.reason for r in results if isinstance(r, DeliveryError)} == {Reason.SERVER_ERROR}
        assert standin.token_fetches == 1

    async def test_is_fetched_again_once_the_cooldown_has_passed(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice, clock: FakeClock
    ) -> None:
        standin.respond_next_token(200, {"errcode": -1, "errmsg": "system error"})
        with pytest.raises(TransientDeliveryError):
            await channel.send(notice)
        clock.now += 3
        assert (await channel.send(notice)).provider_id
        assert standin.token_fetches == 2

    async def test_a_stalled_token_fetch_times_out_as_transient(
        self, tokens: AccessTokens, standin: WeChatStandIn
    ) -> None:
        standin.token_delay = 10.0
        with pytest.raises(TransientDeliveryError) as caught:
            await tokens.get()
        assert caught.value.reason is Reason.TIMEOUT

    async def test_never_appears_in_an_error(
        self, channel: WeChatTemplate, standin: WeChatStandIn, notice: Notice
    ) -> None:
        standin.respond_next(200, {"errcode": 40037, "errmsg": "invalid template_id"})
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(notice)
        assert standin.current_token not in f"{caught.value} {caught.value.detail!r}"
