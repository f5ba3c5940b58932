"""Typed settings, read once at start from `JIAOYING_*` environment variables.

`load_settings()` reports every problem at once, each naming its variable and never
showing a secret; `settings_or_exit()` is what the CLI calls. The values are frozen:
nothing re-reads the environment while the service runs.
"""

from __future__ import annotations

import hmac
import os
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any
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

import dispatcher
from dispatcher.core.errors import InputError
from dispatcher.runtime.env_values import PARSERS, LogLevel
from dispatcher.runtime.logs import redact_url
from dispatcher.runtime.provider_choice import chosen_provider, provider_problems

__all__ = [
    "ENV_PREFIX",
    "Settings",
    "SettingsError",
    "env_name",
    "load_settings",
    "settings_or_exit",
    "shipped_examples",
]

ENV_PREFIX = "JIAOYING_"

# Found from the package, not from this module: the paths hold wherever it sits in it.
_PACKAGE_DIR = Path(dispatcher.__file__).resolve().parent
_REPO_DIR = _PACKAGE_DIR.parent
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

# Every provider that can reach a person for real, by its credentials. A provider is
# either fully configured or runs in simulate mode; half a set of credentials is a typo,
# and silently simulating would look like "nobody answered". `real_providers` reads this
# list, and with it the rule that real providers never run on the example roster: a
# provider added to dispatcher.providers is added here.
_CREDENTIAL_GROUPS: dict[str, tuple[str, ...]] = {
    "Twilio": ("twilio_account_sid", "twilio_auth_token", "twilio_from"),
    "WeChat": ("wechat_appid", "wechat_secret", "wechat_template_id", "wechat_token"),
    "broadcast": ("broadcast_url", "broadcast_token"),
    "Aliyun": ("aliyun_access_key_id", "aliyun_access_key_secret"),
    "Tencent Cloud": ("tencent_secret_id", "tencent_secret_key"),
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


def shipped_examples() -> tuple[Path, ...]:
    """The folders of examples that ship with jiaoying: the checkout's (in a checkout
    only, as `_shipped` decides) and the installed package's, whether or not it exists."""
    packaged = _PACKAGE_DIR / "_examples"
    if (_REPO_DIR / "pyproject.toml").is_file():
        return (_REPO_DIR / "examples", packaged)
    return (packaged,)


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
    wechat_token: SecretStr | None = None  # the server token WeChat signs its callbacks with
    wechat_api_base: str = "https://api.weixin.qq.com"
    broadcast_url: str | None = None
    broadcast_token: SecretStr | None = None
    # Which provider serves SMS and voice (dispatcher.runtime.provider_choice).
    sms_provider: str | None = None
    voice_provider: str | None = None
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: SecretStr | None = None
    aliyun_sms_sign_name: str | None = None
    # Notice kind → the console's approved template code (`alert=SMS_1234,...`).
    aliyun_sms_templates: Mapping[str, str] = Field(default_factory=dict)
    aliyun_sms_endpoint: str = "https://dysmsapi.aliyuncs.com"
    aliyun_tts_templates: Mapping[str, str] = Field(default_factory=dict)
    # A purchased number: calls go out as IvrCall and key 1 answers (its reply prompt is
    # `aliyun_ivr_thanks_code`); without one, SingleCallByTts from
    # `aliyun_voice_show_number` (or the shared pool) only delivers.
    aliyun_ivr_number: str | None = None
    aliyun_ivr_thanks_code: str | None = None
    aliyun_voice_show_number: str | None = None
    aliyun_vms_endpoint: str = "https://dyvmsapi.aliyuncs.com"
    tencent_secret_id: str | None = None
    tencent_secret_key: SecretStr | None = None
    tencent_region: str = "ap-guangzhou"
    tencent_sms_app_id: str | None = None
    tencent_sms_sign_name: str | None = None
    tencent_sms_templates: Mapping[str, str] = Field(default_factory=dict)
    tencent_vms_app_id: str | None = None
    tencent_vms_templates: Mapping[str, str] = Field(default_factory=dict)
    # Tencent places no voice message 22:00-08:00 unless the account had it lifted.
    tencent_vms_night_calls: bool = False
    tencent_sms_endpoint: str = "https://sms.tencentcloudapi.com"
    tencent_vms_endpoint: str = "https://vms.tencentcloudapi.com"
    # The secrets in the callback URLs given to the Alibaba and Tencent consoles (their
    # pushes are not signed): the first is current, the others still accepted while a
    # rotation reaches every console. Optionally only from `callback_networks`.
    callback_secrets: tuple[SecretStr, ...] = ()
    callback_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    log_level: LogLevel = "INFO"
    shutdown_grace: float = 20.0
    # A replica whose heartbeat is older than this is taken for dead: its claimed sends are
    # made again by another. Above the 2 s heartbeat with margin for a busy event loop.
    peer_timeout: float = 10.0
    # Sends claimed and not yet recorded, at most; also the most a crash can repeat.
    send_window: int = 256
    # Provider requests per second, per channel (`sms=500,voice=5`): what the provider's
    # contract allows. A channel not named keeps the sender's default.
    send_rates: Mapping[str, float] = Field(default_factory=dict)
    # Requests a minute one client address may make to the answer page (`/a/{token}`),
    # in a burst or spread out. Generous: grid persons behind one carrier NAT share an
    # address, and each answer is a GET and a POST.
    answer_rate: int = 120
    # Reverse proxies (addresses or networks, `10.0.0.5,192.168.0.0/24`) whose
    # X-Forwarded-For names the client; by default none, and the peer is the client.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()

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
        parse = PARSERS.get(info.field_name or "")
        return value if value is None or parse is None else parse(value)

    @model_validator(mode="after")
    def _check_credential_groups(self) -> Settings:
        present = {name for name in type(self).model_fields if getattr(self, name) is not None}
        problems = _half_configured(present)
        problems += provider_problems(lambda name: getattr(self, name), env_name)
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

    def provider_of(self, channel: str) -> str | None:
        """The provider serving "sms" or "voice" (twilio, aliyun, tencent), None when the
        channel runs in simulate mode."""
        return chosen_provider(channel, lambda name: getattr(self, name))

    @property
    def wechat_configured(self) -> bool:
        """True when WeChat template messages are really sent (else simulate mode)."""
        return self.wechat_appid is not None

    @property
    def broadcast_configured(self) -> bool:
        """True when broadcast play requests really go out (else simulate mode)."""
        return self.broadcast_url is not None

    @property
    def real_providers(self) -> tuple[str, ...]:
        """The providers that will really reach people (their credentials are given), in
        a fixed order; empty when every channel runs in simulate mode."""
        return tuple(
            provider
            for provider, group in _CREDENTIAL_GROUPS.items()
            if getattr(self, group[0]) is not None
        )

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
            "sms": self.provider_of("sms") is not None,
            "voice": self.provider_of("voice") is not None,
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
