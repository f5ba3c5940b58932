"""How each `JIAOYING_*` value is read and checked.

Each parser takes what the environment (or a keyword argument) gave and returns the value
or raises ValueError with a reason. A reason quotes the input only where it is no secret,
and then with any URL password masked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dispatcher.runtime.logs import redact_url
from dispatcher.runtime.provider_choice import NOTICE_KINDS, PROVIDERS

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
_ASYNC_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_TWILIO_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_LINK_SECRET = re.compile(r".{32,}", re.DOTALL)
_MIN_API_TOKEN = 16
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_CALLBACK_SECRET = re.compile(r"[A-Za-z0-9_\-]{24,}")
SEND_CHANNELS = ("voice", "sms", "wechat", "broadcast")


def _got(value: str) -> str:
    return f"(got {redact_url(value)!r})"


def _text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value().strip()
    if isinstance(value, str | Path | int | float):
        return str(value).strip()
    raise ValueError(f"must be text, not {type(value).__name__}")


def _parse_word(value: Any) -> str:
    text = _text(value)
    if not text or any(char.isspace() for char in text):
        raise ValueError("must be one word without spaces")
    return text


def _parse_db_url(value: Any) -> str:
    text = _text(value)
    try:
        driver = make_url(text).drivername
    except ArgumentError:
        raise ValueError(f"not a database URL {_got(text)}") from None
    if driver not in _ASYNC_DRIVERS:
        raise ValueError(f"must use sqlite+aiosqlite or postgresql+asyncpg {_got(text)}")
    return text


def _parse_amqp_url(value: Any) -> str:
    text = _text(value)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - reading the port is what rejects a malformed one
    except ValueError:
        raise ValueError(f"not a URL {_got(text)}") from None
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise ValueError(f"must be an amqp:// or amqps:// URL with a host {_got(text)}")
    return text


def _parse_http_url(value: Any) -> str:
    text = _text(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host {_got(text)}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not carry a query or fragment {_got(text)}")
    return text.rstrip("/")


def _parse_port(value: Any) -> int:
    text = _text(value)
    if not text.isdecimal() or not 1 <= int(text) <= 65535:
        raise ValueError(f"must be between 1 and 65535 {_got(text)}")
    return int(text)


def _existing(kind: str, exists: Callable[[Path], bool]) -> Callable[[Any], Path]:
    def parse(value: Any) -> Path:
        path = Path(_text(value)).expanduser()
        if not exists(path):
            raise ValueError(f"no such {kind} {_got(str(path))}")
        return path

    return parse


def _parse_api_tokens(value: Any) -> dict[str, str]:
    # A None name marks an entry without a colon: it may be a bare token, so the
    # problem says where it is, never what it is.
    entries: list[tuple[str | None, str]] = []
    if isinstance(value, Mapping):
        entries = [(str(name), _text(token)) for name, token in value.items()]
    else:
        for entry in _text(value).split(","):
            label, colon, secret = entry.partition(":")
            if entry.strip():
                entries.append((label.strip() if colon else None, secret.strip()))
    problems: list[str] = []
    tokens: dict[str, str] = {}
    for position, (name, token) in enumerate(entries, start=1):
        if not name:
            problems.append(f"entry {position} is not name:token")
        elif not _TOKEN_NAME.fullmatch(name):
            problems.append(f"name {name!r} may use only letters, digits, '.', '_', '-'")
        elif name in tokens:
            problems.append(f"name {name!r} is used twice")
        elif len(token) < _MIN_API_TOKEN:
            problems.append(f"token {name!r} is shorter than {_MIN_API_TOKEN} characters")
        elif token in tokens.values():
            problems.append(f"token {name!r} is the same as another name's token")
        else:
            tokens[name] = token
    if problems:
        raise ValueError("\n".join(problems))
    return tokens


def _matching(pattern: re.Pattern[str], reason: str) -> Callable[[Any], str]:
    # The reason never quotes the value: a credential pasted into the wrong variable is
    # the likeliest mistake these catch.
    def parse(value: Any) -> str:
        text = _text(value)
        if not pattern.fullmatch(text):
            raise ValueError(reason)
        return text

    return parse


def _parse_log_level(value: Any) -> str:
    text = _text(value).upper()
    if text not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)} {_got(text)}")
    return text


def _parse_count(value: Any) -> int:
    text = _text(value)
    if not text.isdecimal() or not 1 <= int(text) <= 100_000:
        raise ValueError(f"must be a whole number from 1 to 100000 {_got(text)}")
    return int(text)


def _parse_send_rates(value: Any) -> dict[str, float]:
    entries: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        entries = [(str(name), _text(rate)) for name, rate in value.items()]
    else:
        for entry in _text(value).split(","):
            if entry.strip():
                name, _, given = entry.partition("=")
                entries.append((name.strip(), given.strip()))
    problems: list[str] = []
    rates: dict[str, float] = {}
    for name, text in entries:
        try:
            rate = float(text)
        except ValueError:
            rate = math.nan
        if name not in SEND_CHANNELS:
            problems.append(f"{name!r} is not a channel (known: {', '.join(SEND_CHANNELS)})")
        elif name in rates:
            problems.append(f"{name!r} is given twice")
        elif not math.isfinite(rate) or rate <= 0:
            problems.append(f"{name}: must be channel=requests per second, above 0 {_got(text)}")
        else:
            rates[name] = rate
    if problems:
        raise ValueError("\n".join(problems))
    return rates


def _parse_networks(value: Any) -> tuple[IPv4Network | IPv6Network, ...]:
    if isinstance(value, tuple | list):
        entries = [item if isinstance(item, str) else str(item) for item in value]
    else:
        entries = [entry.strip() for entry in _text(value).split(",") if entry.strip()]
    networks: list[IPv4Network | IPv6Network] = []
    for entry in entries:
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"must be IP addresses or networks, comma-separated {_got(entry)}"
            ) from None
    return tuple(networks)


def _parse_provider(value: Any) -> str:
    text = _text(value).lower()
    if text not in PROVIDERS:
        raise ValueError(f"must be one of {', '.join(PROVIDERS)} {_got(text)}")
    return text


def _parse_templates(value: Any) -> dict[str, str]:
    """`alert=SMS_1234,update=SMS_1235,…`: notice kind → the console's template id."""
    if isinstance(value, Mapping):
        entries = [(str(kind), _text(code)) for kind, code in value.items()]
    else:
        entries = []
        for entry in _text(value).split(","):
            if entry.strip():
                kind, _, code = entry.partition("=")
                entries.append((kind.strip(), code.strip()))
    problems: list[str] = []
    templates: dict[str, str] = {}
    for kind, code in entries:
        if kind not in NOTICE_KINDS:
            problems.append(f"{kind!r} is not a notice kind (known: {', '.join(NOTICE_KINDS)})")
        elif kind in templates:
            problems.append(f"{kind!r} is given twice")
        elif not _TEMPLATE_ID.fullmatch(code):
            problems.append(f"{kind}: must be kind=template id {_got(code)}")
        else:
            templates[kind] = code
    if problems:
        raise ValueError("\n".join(problems))
    return templates


def _parse_callback_secrets(value: Any) -> tuple[str, ...]:
    entries = (
        [_text(item) for item in value]
        if isinstance(value, tuple | list)
        else [entry.strip() for entry in _text(value).split(",") if entry.strip()]
    )
    # Never quoted: each is a secret.
    for position, entry in enumerate(entries, start=1):
        if not _CALLBACK_SECRET.fullmatch(entry):
            raise ValueError(
                f"secret {position} must be at least 24 letters, digits, '-' or '_' "
                "(it rides in a URL path)"
            )
    return tuple(entries)


def _parse_flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"must be true or false {_got(text)}")
    return text in ("true", "1", "yes")


def _parse_seconds(value: Any) -> float:
    text = _text(value)
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a number of seconds, 0 or more {_got(text)}")
    return seconds


PARSERS: dict[str, Callable[[Any], Any]] = {
    "db_url": _parse_db_url,
    "amqp_url": _parse_amqp_url,
    "http_host": _parse_word,
    "http_port": _parse_port,
    "public_url": _parse_http_url,
    "roster_dir": _existing(
        "directory or .xlsx workbook",
        lambda path: path.is_dir() or (path.is_file() and path.suffix.lower() == ".xlsx"),
    ),
    "policy": _existing("file", Path.is_file),
    "templates_dir": _existing("directory", Path.is_dir),
    "api_tokens": _parse_api_tokens,
    "link_secret": _matching(_LINK_SECRET, "must be at least 32 characters long"),
    "twilio_account_sid": _matching(_TWILIO_SID, "must be AC followed by 32 hex digits"),
    "twilio_auth_token": _parse_word,
    "twilio_from": _matching(_E164, "must be an E.164 phone number such as +12025550123"),
    "twilio_api_base": _parse_http_url,
    "wechat_appid": _parse_word,
    "wechat_secret": _parse_word,
    "wechat_template_id": _parse_word,
    "wechat_token": _parse_word,
    "wechat_api_base": _parse_http_url,
    "broadcast_url": _parse_http_url,
    "broadcast_token": _parse_word,
    "log_level": _parse_log_level,
    "shutdown_grace": _parse_seconds,
    "peer_timeout": _parse_seconds,
    "send_window": _parse_count,
    "send_rates": _parse_send_rates,
    "answer_rate": _parse_count,
    "trusted_proxies": _parse_networks,
    "sms_provider": _parse_provider,
    "voice_provider": _parse_provider,
    "aliyun_access_key_id": _parse_word,
    "aliyun_access_key_secret": _parse_word,
    "aliyun_sms_sign_name": _text,
    "aliyun_sms_templates": _parse_templates,
    "aliyun_sms_endpoint": _parse_http_url,
    "aliyun_tts_templates": _parse_templates,
    "aliyun_ivr_number": _parse_word,
    "aliyun_ivr_thanks_code": _parse_word,
    "aliyun_voice_show_number": _parse_word,
    "aliyun_vms_endpoint": _parse_http_url,
    "tencent_secret_id": _parse_word,
    "tencent_secret_key": _parse_word,
    "tencent_region": _parse_word,
    "tencent_sms_app_id": _parse_word,
    "tencent_sms_sign_name": _text,
    "tencent_sms_templates": _parse_templates,
    "tencent_vms_app_id": _parse_word,
    "tencent_vms_templates": _parse_templates,
    "tencent_vms_night_calls": _parse_flag,
    "tencent_sms_endpoint": _parse_http_url,
    "tencent_vms_endpoint": _parse_http_url,
    "callback_secrets": _parse_callback_secrets,
    "callback_networks": _parse_networks,
}
