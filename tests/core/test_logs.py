"""Logs: the real JSON output never carries a full phone number, a token or a password."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from dispatcher.runtime.logs import _redact_all, configure_logging, redact, redact_text, redact_url

PHONE = "+8613800138000"
NATIONAL = "13800138000"
MASKED = "138****8000"
TOKEN = "tok_9f8e7d6c5b4a39281706"
PASSWORD = "mq-pass-Zq81"
LEAKS = (PHONE, NATIONAL, TOKEN, PASSWORD)

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    noisy = {name: logging.getLogger(name).level for name in ("aio_pika", "twilio")}
    yield
    structlog.reset_defaults()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in noisy.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def output(restore_logging: None) -> io.StringIO:
    stream = io.StringIO()
    configure_logging("INFO", stream)
    return stream


@pytest.fixture
def lines(output: io.StringIO) -> Lines:
    def parse() -> list[dict[str, Any]]:
        text = output.getvalue()
        for leak in LEAKS:
            assert leak not in text
        return [json.loads(line) for line in text.splitlines()]

    return parse


def assert_recent_utc(timestamp: str) -> None:
    moment = datetime.fromisoformat(timestamp)
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


def test_phone_numbers_are_masked_everywhere(lines: Lines) -> None:
    structlog.get_logger("jiaoying.test").info(
        f"sms to {PHONE} sent, reply from {NATIONAL}",
        to=PHONE,
        from_=NATIONAL,
        payload={"From": PHONE, "Body": "收到", "calls": [{"Called": NATIONAL}]},
        numbers=[PHONE, NATIONAL],
        mobile=13800138000,
        note=f"fallback {NATIONAL}",
    )
    (record,) = lines()
    assert record["event"] == f"sms to {MASKED} sent, reply from {MASKED}"
    assert record["to"] == record["from_"] == record["mobile"] == MASKED
    assert record["payload"] == {"From": MASKED, "Body": "收到", "calls": [{"Called": MASKED}]}
    assert record["numbers"] == [MASKED, MASKED]
    assert record["note"] == f"fallback {MASKED}"
    assert record["level"] == "info"
    assert record["logger"] == "jiaoying.test"
    assert_recent_utc(record["timestamp"])


def test_what_is_not_a_phone_number_is_left_alone(lines: Lines) -> None:
    structlog.get_logger().info(
        "grid 110101001001 answered at 2026-07-20T02:00:00+08:00",
        to="notified",
        from_="delivered",
        geocode="110101",
        attempt=3,
        population=13800,
        answered=True,
    )
    (record,) = lines()
    assert record["event"] == "grid 110101001001 answered at 2026-07-20T02:00:00+08:00"
    assert (record["to"], record["from_"], record["geocode"]) == ("notified", "delivered", "110101")
    assert (record["attempt"], record["population"], record["answered"]) == (3, 13800, True)


def test_secrets_are_dropped(lines: Lines) -> None:
    structlog.get_logger().info(
        "provider call",
        token=TOKEN,
        access_token=TOKEN,
        auth_token=TOKEN,
        password=PASSWORD,
        link=f"https://jiaoying.example.cn/a/{TOKEN}",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Twilio-Signature": TOKEN},
        api_tokens={"ops": TOKEN},
        link_secret=TOKEN,
        secret=None,
    )
    (record,) = lines()
    assert record["token"] == record["access_token"] == record["auth_token"] == "[redacted]"
    assert record["password"] == record["link"] == record["link_secret"] == "[redacted]"
    assert record["headers"] == {"Authorization": "[redacted]", "X-Twilio-Signature": "[redacted]"}
    assert record["api_tokens"] == "[redacted]"
    assert record["secret"] is None


def test_secrets_inside_free_text_are_removed(lines: Lines) -> None:
    log = structlog.get_logger()
    log.info(f"connecting to amqp://jiaoying:{PASSWORD}@mq:5672/ as before")
    log.info(
        "answer link sent",
        body=f"请点击 https://jiaoying.example.cn/a/{TOKEN} 确认",
        request=f"POST https://api.weixin.qq.com/cgi-bin/message/send?access_token={TOKEN}&x=1",
        header=f"Authorization: Bearer {TOKEN}",
    )
    first, second = lines()
    assert first["event"] == "connecting to amqp://jiaoying:***@mq:5672/ as before"
    assert second["body"] == "请点击 https://jiaoying.example.cn/a/[redacted] 确认"
    assert second["request"].endswith("send?access_token=[redacted]&x=1")
    assert second["header"] == "Authorization: Bearer [redacted]"


@dataclass
class Notice:
    recipient: str
    phone: str


def test_objects_are_rendered_then_masked(lines: Lines) -> None:
    structlog.get_logger().info("queued", notice=Notice("p-17", PHONE))
    (record,) = lines()
    assert record["notice"] == f"Notice(recipient='p-17', phone='{MASKED}')"


def test_context_is_bound_and_masked_too(lines: Lines) -> None:
    with structlog.contextvars.bound_contextvars(
        warning_id="w-1", recipient="p-17", channel="sms", attempt=2, phone=PHONE
    ):
        structlog.get_logger().info("notice sent")
        logging.getLogger("aio_pika").warning("publisher confirm late")
    ours, library = lines()
    for record in (ours, library):
        assert (record["warning_id"], record["recipient"], record["channel"]) == (
            "w-1",
            "p-17",
            "sms",
        )
        assert (record["attempt"], record["phone"]) == (2, MASKED)


def fail_calling(phone: str) -> None:
    auth_token = TOKEN  # a local the traceback must not show
    raise ConnectionError(f"call to {phone} failed ({len(auth_token)})")


def test_exception_text_and_traceback_are_redacted(lines: Lines) -> None:
    try:
        try:
            fail_calling(PHONE)
        except ConnectionError as error:
            raise RuntimeError(f"giving up on {NATIONAL}, link /a/{TOKEN}") from error
    except RuntimeError:
        structlog.get_logger().exception("delivery failed", to=PHONE)
    (record,) = lines()
    assert record["level"] == "error"
    assert_recent_utc(record["timestamp"])
    assert record["to"] == MASKED
    raised, cause = record["exception"]
    assert raised["exc_type"] == "RuntimeError"
    assert raised["exc_value"] == f"giving up on {MASKED}, link /a/[redacted]"
    assert (cause["exc_type"], cause["is_cause"]) == ("ConnectionError", True)
    assert cause["exc_value"] == f"call to {MASKED} failed (24)"
    assert cause["frames"][-1]["name"] == "fail_calling"
    assert all("locals" not in frame for frame in cause["frames"])


def test_stdlib_loggers_come_out_as_redacted_json(lines: Lines) -> None:
    logging.getLogger("aio_pika").warning(
        "connection to amqp://jiaoying:%s@mq/ lost, notifying %s", PASSWORD, PHONE
    )
    logging.getLogger("aiohttp.access").info('"POST /a/%s HTTP/1.1" 200', TOKEN)
    try:
        raise ValueError(f"bad number {NATIONAL}")
    except ValueError:
        logging.getLogger("dispatcher.store").exception("row rejected for %s", PHONE)
    pika, access, store = lines()
    assert pika["event"] == f"connection to amqp://jiaoying:***@mq/ lost, notifying {MASKED}"
    assert (pika["logger"], pika["level"]) == ("aio_pika", "warning")
    assert access["event"] == '"POST /a/[redacted] HTTP/1.1" 200'
    assert store["event"] == f"row rejected for {MASKED}"
    assert store["exception"][0]["exc_value"] == f"bad number {MASKED}"
    for record in (pika, access, store):
        assert_recent_utc(record["timestamp"])


def test_noisy_libraries_are_capped_at_warning(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    logging.getLogger("twilio.http_client").info("POST https://api.twilio.com/…/Messages.json")
    logging.getLogger("aio_pika").info("channel opened")
    logging.getLogger("aio_pika").warning("channel closed")
    structlog.get_logger("jiaoying").debug("tick")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["channel closed", "tick"]


def test_the_level_filters_our_own_lines(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("warning", stream)
    structlog.get_logger().info("not shown")
    logging.getLogger("dispatcher").info("not shown either")
    structlog.get_logger().warning("shown")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["shown"]


def test_configuring_again_replaces_the_handler(restore_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", first)
    configure_logging("INFO", second)
    structlog.get_logger().info("once")
    logging.getLogger("aio_pika").warning("once too")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 2


class DeadPipe(io.StringIO):
    """stdout whose reader has gone: every write fails."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_stream_that_fails_costs_the_line_not_the_caller(restore_logging: None) -> None:
    configure_logging("INFO", DeadPipe())
    structlog.get_logger("jiaoying.sender").info("sms accepted", recipient="p-1")

    closed = io.StringIO()
    configure_logging("INFO", closed)
    closed.close()
    structlog.get_logger("jiaoying.sender").warning("sms refused", recipient="p-1")


def test_an_unknown_level_is_refused(restore_logging: None) -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD", io.StringIO())


def test_redact_runs_on_captured_events_with_the_real_processors() -> None:
    processors = [structlog.contextvars.merge_contextvars, redact]
    with (
        structlog.contextvars.bound_contextvars(caller=PHONE),
        capture_logs(processors=processors) as captured,
    ):
        structlog.get_logger().info("inbound call", signature=TOKEN, count=2)
    assert captured == [
        {
            "event": "inbound call",
            "caller": MASKED,
            "signature": "[redacted]",
            "count": 2,
            "log_level": "info",
        }
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amqp://guest:guest@localhost/", "amqp://guest:***@localhost/"),
        ("amqps://u:p@ss:w0rd@mq:5671/vh", "amqps://u:***@mq:5671/vh"),
        ("postgresql+asyncpg://j:pw@db/j", "postgresql+asyncpg://j:***@db/j"),
        ("amqp://guest@localhost/", "amqp://guest@localhost/"),
        ("https://example.cn:8443/a", "https://example.cn:8443/a"),
    ],
)
def test_redact_url(text: str, expected: str) -> None:
    assert redact_url(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /a/abc.DEF-123_x?lang=zh", "GET /a/[redacted]?lang=zh"),
        ("webhook/send?key=abc123&debug=1", "webhook/send?key=[redacted]&debug=1"),
        ("token?appid=wx1&secret=s3cr3t", "token?appid=wx1&secret=[redacted]"),
        ("call +12025550123 or 138 0013 8000", "call *******0123 or 138****8000"),
        ("id 1380013800012 at 2026-07-20T02:00:00Z", "id 1380013800012 at 2026-07-20T02:00:00Z"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# Pieces every redaction rule looks for, mixed with plain text: the generated lines hit
# each rule, and the fast path's test, from both sides.
_PIECES = st.sampled_from(
    [
        "notice sent",
        " ",
        "收到",
        "13800138000",
        "+86 138 0013 8000",
        "１３８００１３８０００",
        "amqp://u:pw@mq/",
        "?token=abc",
        "&sig=x",
        "/a/cgAAAAAB",
        "Bearer abcdefgh12",
        "bearer ",
        "=",
        "://",
        "a",
        "7",
    ]
)


@given(st.lists(_PIECES, max_size=8).map("".join))
def test_skipping_text_without_sensitive_marks_redacts_exactly_as_the_full_rules(text: str) -> None:
    assert redact_text(text) == _redact_all(text)


@given(
    st.integers()
    | st.integers(min_value=10**9, max_value=10**12)
    | st.sampled_from([13800138000, 8613800138000, -13800138000, 9999999999, 10**10])
)
def test_an_int_field_is_redacted_exactly_as_its_text_would_be(value: int) -> None:
    full = _redact_all(str(value))
    expected = value if full == str(value) else full
    assert redact(None, "info", {"count": value})["count"] == expected
