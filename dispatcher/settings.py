"""Typed settings, read once at start from `JIAOYING_*` environment variables.

`load_settings()` reports every problem at once, each naming its variable and never
showing a secret; `settings_or_exit()` is what the CLI calls. The values are frozen:
nothing re-reads the environment while the service runs.
"""

from __future__ import annotations

import hmac
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dispatcher.errors import InputError
from dispatcher.logs import redact_url

__all__ = [
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "env_name",
    "load_settings",
    "settings_or_exit",
]

ENV_PREFIX = "JIAOYING_"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_DIR = _PACKAGE_DIR.parent
_LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
_ASYNC_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_TWILIO_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_LINK_SECRET = re.compile(r".{32,}", re.DOTALL)
_MIN_API_TOKEN = 16
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

# A provider is either fully configured or runs in simulate mode; half a set of
# credentials is a typo, and silently simulating would look like "nobody answered".
_CREDENTIAL_GROUPS: dict[str, tuple[str, ...]] = {
    "Twilio": ("twilio_account_sid", "twilio_auth_token", "twilio_from"),
    "WeChat": ("wechat_appid", "wechat_secret", "wechat_template_id"),
    "broadcast": ("broadcast_url", "broadcast_token"),
}
_URL_FIELDS = frozenset(
    {"db_url", "amqp_url", "public_url", "twilio_api_base", "wechat_api_base", "broadcast_url"}
)

# The mapping the environment source reads; `load_settings` points it at the mapping it
# was given, so tests never have to touch os.environ.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("jiaoying_environ", default=None)


def env_name(field_name: str) -> str:
    """The environment variable that sets `field_name` (`http_port` → `JIAOYING_HTTP_PORT`)."""
    return ENV_PREFIX + field_name.upper()


def _shipped(repo_path: str, packaged_path: str) -> Path:
    """A file shipped with jiaoying: the checkout's copy, else the wheel's copy."""
    # pyproject.toml marks a checkout; site-packages may hold some other project's
    # top-level `examples/`, which must never be mistaken for ours.
    if (_REPO_DIR / "pyproject.toml").is_file():
        return _REPO_DIR / repo_path
    return _PACKAGE_DIR / packaged_path


# Parsers: each takes what the environment (or a keyword argument) gave and returns the
# value or raises ValueError with a reason. A reason quotes the input only where it is
# no secret, and then with any URL password masked.


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


def _parse_seconds(value: Any) -> float:
    text = _text(value)
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a number of seconds, 0 or more {_got(text)}")
    return seconds


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "db_url": _parse_db_url,
    "amqp_url": _parse_amqp_url,
    "http_host": _parse_word,
    "http_port": _parse_port,
    "public_url": _parse_http_url,
    "roster_dir": _existing("directory", Path.is_dir),
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
    "wechat_api_base": _parse_http_url,
    "broadcast_url": _parse_http_url,
    "broadcast_token": _parse_word,
    "log_level": _parse_log_level,
    "shutdown_grace": _parse_seconds,
}


class _EnvironSource(PydanticBaseSettingsSource):
    """Values of `JIAOYING_<FIELD>` variables; a blank value counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._environ.get(env_name(field_name)), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, field_name)
            # docker-compose and systemd units write `VAR=` for "not configured".
            if value is not None and value.strip():
                values[field_name] = value
        return values


class SettingsError(InputError):
    """The configuration cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            f"configuration has {len(problems)} problem(s):\n" + "\n".join(self.problems)
        )


class Settings(BaseSettings):
    """Everything jiaoying is configured with. Build it with `load_settings()`.

    Defaults are trusted as they stand (the shipped example files need not exist to
    import this); only values that were given are checked.
    """

    # The environment is read by _EnvironSource (prefix ENV_PREFIX), not by
    # pydantic-settings' own source, so that a test can hand over a plain dict.
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", validate_default=False, hide_input_in_errors=True
    )

    db_url: str = "sqlite+aiosqlite:///./var/jiaoying.db"
    amqp_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    roster_dir: Path = Field(
        default_factory=lambda: _shipped("examples/roster", "_examples/roster")
    )
    policy: Path = Field(
        default_factory=lambda: _shipped("examples/policy.yaml", "_examples/policy.yaml")
    )
    templates_dir: Path = Field(default_factory=lambda: _shipped("templates", "_templates"))
    api_tokens: Mapping[str, SecretStr] = Field(default_factory=dict)
    link_secret: SecretStr | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_base: str | None = None
    wechat_appid: str | None = None
    wechat_secret: SecretStr | None = None
    wechat_template_id: str | None = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    broadcast_url: str | None = None
    broadcast_token: SecretStr | None = None
    log_level: LogLevel = "INFO"
    shutdown_grace: float = 20.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env file and no secrets directory: what runs is what the environment says.
        environ = _ENVIRON.get()
        return (
            init_settings,
            _EnvironSource(settings_cls, os.environ if environ is None else environ),
        )

    @field_validator("*", mode="before")
    @classmethod
    def _parse(cls, value: Any, info: ValidationInfo) -> Any:
        parse = _PARSERS.get(info.field_name or "")
        return value if value is None or parse is None else parse(value)

    @model_validator(mode="after")
    def _check_credential_groups(self) -> Settings:
        present = {name for name in type(self).model_fields if getattr(self, name) is not None}
        problems = _half_configured(present)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Database and broker URLs may carry a password; SecretStr fields mask themselves.
        for name, value in super().__repr_args__():
            if name in _URL_FIELDS and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value

    @property
    def amqp_configured(self) -> bool:
        """True when warnings are also consumed from RabbitMQ (else HTTP ingest only)."""
        return self.amqp_url is not None

    @property
    def twilio_configured(self) -> bool:
        """True when SMS and voice go through Twilio (else they run in simulate mode)."""
        return self.twilio_account_sid is not None

    @property
    def wechat_configured(self) -> bool:
        """True when WeChat template messages are really sent (else simulate mode)."""
        return self.wechat_appid is not None

    @property
    def broadcast_configured(self) -> bool:
        """True when broadcast play requests really go out (else simulate mode)."""
        return self.broadcast_url is not None

    def api_token_name(self, presented: str) -> str | None:
        """The name of the API token equal to `presented`, or None if none is.

        Compares with every token in constant time, so response timing tells a caller
        nothing about how close a guess was.
        """
        match: str | None = None
        for name, token in self.api_tokens.items():
            if hmac.compare_digest(token.get_secret_value().encode(), presented.encode()):
                match = name
        return match

    def startup_notices(self) -> list[str]:
        """What runs degraded or not at all with this configuration, to log at startup."""
        notices: list[str] = []
        if not self.amqp_configured:
            notices.append(f"{env_name('amqp_url')} is unset: warnings arrive over HTTP only")
        if not self.api_tokens:
            notices.append(
                f"{env_name('api_tokens')} is unset: every token-protected request is refused"
            )
        if self.link_secret is None:
            notices.append(f"{env_name('link_secret')} is unset: answer links cannot be signed")
        channels = {
            "sms and voice": self.twilio_configured,
            "wechat": self.wechat_configured,
            "broadcast": self.broadcast_configured,
        }
        simulated = [name for name, configured in channels.items() if not configured]
        if simulated:
            notices.append("simulate mode, nothing is really sent: " + ", ".join(simulated))
        if len(simulated) < len(channels) and urlsplit(self.public_url).hostname in _LOOPBACK:
            notices.append(
                f"{env_name('public_url')} is {self.public_url}: providers cannot reach "
                "the callbacks there"
            )
        return notices


def _half_configured(present: set[str]) -> list[str]:
    """One problem per provider whose credentials are only partly given."""
    problems = []
    for provider, group in _CREDENTIAL_GROUPS.items():
        given = [env_name(name) for name in group if name in present]
        missing = [env_name(name) for name in group if name not in present]
        if given and missing:
            problems.append(
                f"{', '.join(missing)}: missing, but {', '.join(given)} "
                f"{'is' if len(given) == 1 else 'are'} set ({provider} credentials are all "
                "or nothing; with none of them the channel runs in simulate mode)"
            )
    return problems


def _describe(error: ValidationError) -> list[str]:
    """One line per problem, prefixed with its variable; input is never quoted here."""
    lines: list[str] = []
    for detail in error.errors():
        field_name = str(detail["loc"][0]) if detail["loc"] else ""
        is_ours = detail["type"] == "value_error"
        reason = str(detail["ctx"]["error"]) if is_ours else detail["msg"]
        prefix = f"{env_name(field_name)}: " if field_name else ""
        lines.extend(prefix + line for line in reason.splitlines())
    return lines


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment).

    Call it once at startup and pass the result along. Raises SettingsError listing
    every problem, one per line, each naming its `JIAOYING_*` variable; no secret's
    value appears in the message.
    """
    source = os.environ if environ is None else environ
    token = _ENVIRON.set(source)
    try:
        return Settings()
    except ValidationError as error:
        problems = _describe(error)
    finally:
        _ENVIRON.reset(token)
    # Cross-field checks only run once every field is valid; repeat them on what is
    # present so that the first report is the complete one.
    present = {name for name in Settings.model_fields if source.get(env_name(name), "").strip()}
    problems.extend(_half_configured(present))
    # Raised outside the except block so that the ValidationError, which holds the raw
    # input, is not chained into any traceback.
    raise SettingsError(list(dict.fromkeys(problems)))


def settings_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """`load_settings`, but on a problem print the report to stderr and exit with status 2."""
    try:
        return load_settings(environ)
    except SettingsError as error:
        print(f"jiaoying: {error}", file=sys.stderr)
        raise SystemExit(2) from None
