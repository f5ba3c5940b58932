"""JSON logs that never carry a full phone number, a token or a password (guarantee 6).

`configure_logging()` sends structlog and the standard library's loggers (aio-pika,
aiohttp, twilio, SQLAlchemy …) through one pipeline and one handler, so every line is
JSON and every line passes `redact`. Bind the context a line is about with structlog's
own contextvars, which also reach library log lines emitted in the same task:

    with structlog.contextvars.bound_contextvars(
        warning_id=warning_id, recipient=person_id, channel="sms", attempt=attempt
    ):
        log.info("notice sent", provider_id=receipt.provider_id)

Log a recipient's id, not their number; should a number slip through, it is masked.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

from dispatcher.core.phones import mask_phone, mask_phones_in_text

__all__ = [
    "REDACTED",
    "configure_logging",
    "redact",
    "redact_rendered",
    "redact_text",
    "redact_url",
]

REDACTED = "[redacted]"

_PHONE_KEYS = frozenset(
    {"phone", "to", "from", "from_", "mobile", "number", "caller", "called", "msisdn"}
)
_SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "auth_token",
        "secret",
        "password",
        "signature",
        "authorization",
        "link",
        "url_token",
    }
)
# `api_tokens`, `link_secret`, `X-Twilio-Signature`, `twilio_auth_token` … are secrets too.
_SECRET_SUFFIXES = ("_token", "_tokens", "_secret", "_password", "_signature")
# structlog's and logging's own bookkeeping; later processors need these untouched.
_STRUCTURAL_KEYS = frozenset({"exc_info", "stack_info", "_record", "_from_structlog"})
# Rendered by processors that run after `redact`; `redact_rendered` covers them.
_RENDERED_KEYS = ("exception", "stack")
_MAX_DEPTH = 8

# Libraries that log request URLs, SQL parameters or connection chatter at INFO.
_NOISY_LOGGERS = ("aio_pika", "aiormq", "twilio", "sqlalchemy", "tencentcloud_sdk_common")

_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@]*:)[^\s/?#]*(@)")
_SECRET_QUERY = re.compile(
    r"([?&;](?:access_token|token|auth_token|url_token|secret|appsecret|corpsecret"
    r"|password|signature|sig|key)=)[^&;#\s\"']*",
    re.IGNORECASE,
)
_ANSWER_LINK = re.compile(r"/a/[^/\s?#&\"'<>]+")
# A callback URL whose path carries the deployment's secret (the domestic providers'
# pushes are unsigned): `/callbacks/aliyun/<secret>/…`.
_CALLBACK_SECRET = re.compile(r"(/callbacks/(?:aliyun|tencent)/)[^/\s?#&\"'<>]+")
_BEARER = re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE)
# What each rule above and the phone pattern need at the least: a rule runs only on text
# that has its mark (event names, states, ids, most messages have none or one of them).
_BEARER_MARK = re.compile("bearer", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
# No phone number fits in fewer than 11 digits without a "+", which no int has.
_SHORTEST_PHONE_INT = 10**10


class _KeyKind(enum.Enum):
    SECRET = enum.auto()
    PHONE = enum.auto()
    OTHER = enum.auto()


# Frame locals carry secrets under any name (a client's auth token, a parsed form), where
# no key-based rule can recognise them: tracebacks show only where and what went wrong.
_dict_tracebacks = structlog.processors.ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False)
)


def redact_url(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` URL masked.

    `amqp://jiaoying:s3cret@mq:5672/` → `amqp://jiaoying:***@mq:5672/`.
    """
    return _URL_PASSWORD.sub(r"\1***\2", text)


def redact_text(text: str) -> str:
    """`text` with URL passwords, secret query parameters, bearer tokens and signed answer
    links (`/a/<token>` → `/a/[redacted]`) removed, and every phone number masked."""
    if "://" in text:
        text = redact_url(text)
    if "=" in text:
        text = _SECRET_QUERY.sub(rf"\g<1>{REDACTED}", text)
    if "/a/" in text:
        text = _ANSWER_LINK.sub(f"/a/{REDACTED}", text)
    if "/callbacks/" in text:
        text = _CALLBACK_SECRET.sub(rf"\g<1>{REDACTED}", text)
    if _BEARER_MARK.search(text):
        text = _BEARER.sub(rf"\g<1> {REDACTED}", text)
    return mask_phones_in_text(text) if _DIGIT.search(text) else text


def _redact_all(text: str) -> str:
    """Every rule over the whole text: what `redact_text` must equal (its tests hold it)."""
    text = redact_url(text)
    text = _SECRET_QUERY.sub(rf"\g<1>{REDACTED}", text)
    text = _ANSWER_LINK.sub(f"/a/{REDACTED}", text)
    text = _CALLBACK_SECRET.sub(rf"\g<1>{REDACTED}", text)
    text = _BEARER.sub(rf"\g<1> {REDACTED}", text)
    return mask_phones_in_text(text)


@functools.lru_cache(maxsize=1024)
def _key_kind(key: str) -> _KeyKind:
    """What a field's name says of its value. Cached: a program logs under a few dozen
    names, and each line has half a dozen fields."""
    normal = key.lower().replace("-", "_")
    if normal in _SECRET_KEYS or normal.endswith(_SECRET_SUFFIXES):
        return _KeyKind.SECRET
    return _KeyKind.PHONE if key.lower() in _PHONE_KEYS else _KeyKind.OTHER


def _redact_field(key: object, value: Any, depth: int) -> Any:
    kind = _key_kind(key) if isinstance(key, str) else _KeyKind.OTHER
    if kind is _KeyKind.SECRET:
        return value if value is None else REDACTED
    return _redact_value(value, kind is _KeyKind.PHONE, depth)


def _redact_value(value: Any, is_phone: bool, depth: int) -> Any:
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        # A value without digits holds no number: `to="notified"` in a state change stays.
        if is_phone and any(char.isdigit() for char in value):
            return mask_phone(value)
        return redact_text(value)
    if isinstance(value, int):
        if not is_phone and -_SHORTEST_PHONE_INT < value < _SHORTEST_PHONE_INT:
            return value  # counts, sizes, ids: the common case, and never a number
        masked = _redact_value(str(value), is_phone, depth)
        return value if masked == str(value) else masked
    if depth >= _MAX_DEPTH:
        return redact_text(repr(value))
    if isinstance(value, Mapping):
        return {key: _redact_field(key, item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item, is_phone, depth + 1) for item in value]
    # JSONRenderer would print repr() of anything else (a Notice, an exception …), so
    # scrub exactly that text.
    return _redact_value(repr(value), is_phone, depth)


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask phone numbers and drop secrets in every field.

    Keys named like a phone number (`phone`, `to`, `from_`, `caller` …) are masked with
    `mask_phone`; keys named like a secret (`token`, `password`, `signature`, `link`,
    `*_token` …) become `[redacted]`; every other string, nested ones and the event
    message included, goes through `redact_text`. Run it before TimeStamper, whose
    output it must not touch, and `redact_rendered` after the exception renderer.
    """
    for key, value in event_dict.items():
        if key not in _STRUCTURAL_KEYS:
            event_dict[key] = _redact_field(key, value, 0)
    return event_dict


def redact_rendered(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: `redact` the exception and stack that were rendered after it."""
    for key in _RENDERED_KEYS:
        if key in event_dict:
            event_dict[key] = _redact_field(key, event_dict[key], 0)
    return event_dict


def _level_number(level: str) -> int:
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number


class _LineWriter:
    """Where structlog's rendered lines go: `stream`, a line at a time under the lock the
    standard library's handler takes too, so that no two lines interleave. Like that
    handler, a stream that fails (a reader gone from the pipe, a closed file) costs the
    line, never the caller: an SMS must not fail because its log line could not be
    written. `name` is the logger's, for `add_logger_name`."""

    def __init__(self, stream: TextIO, lock: threading.RLock, name: str) -> None:
        self._stream = stream
        self._lock = lock
        self.name = name

    def msg(self, message: str) -> None:
        try:
            with self._lock:
                self._stream.write(message + "\n")
                self._stream.flush()
        except (OSError, ValueError):
            return

    debug = info = warning = warn = error = critical = exception = fatal = msg


class _LineWriters:
    """structlog's logger factory: one writer per logger name, all to one stream."""

    def __init__(self, stream: TextIO, lock: threading.RLock) -> None:
        self._stream = stream
        self._lock = lock
        self._writers: dict[str, _LineWriter] = {}

    def __call__(self, *args: Any) -> _LineWriter:
        name = str(args[0]) if args else "jiaoying"
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = _LineWriter(self._stream, self._lock, name)
        return writer


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every log line, structlog's and the standard library's, to `stream` as JSON.

    `stream` defaults to the `sys.stdout` of the moment of the call. Calling it again
    replaces the previous configuration (the root logger's handlers included), so
    exactly one JSON handler writes. aio-pika, aiormq, twilio and SQLAlchemy log at
    WARNING or above whatever `level` is. Raises ValueError for an unknown level.
    """
    number = _level_number(level)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        redact,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        _dict_tracebacks,
        redact_rendered,
    ]
    render = structlog.processors.JSONRenderer(ensure_ascii=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            render,
        ],
    )
    out = sys.stdout if stream is None else stream
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    # structlog's own lines are rendered and written by structlog: through the standard
    # library's logging as well (a LogRecord, its handler, its formatter) a line cost
    # twice as much, and an SMS reply writes one.
    structlog.configure(
        processors=[*shared, render],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=_LineWriters(out, handler.lock or threading.RLock()),
        # Reconfiguring (tests, a CLI changing the level) must reach loggers already in use.
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    # Any other handler would write lines that are neither JSON nor redacted.
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.WARNING))
