"""Settings: defaults, every check, all problems at once, and no secret ever shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from dispatcher.runtime import settings as settings_module
from dispatcher.runtime.settings import Settings, SettingsError, load_settings, settings_or_exit

REPO = Path(__file__).resolve().parents[2]

AMQP_PASSWORD = "amqp-pass-Zq81"
DB_PASSWORD = "db-pass-Hx42"
OPS_TOKEN = "ops-token-0123456789abcdef"
PRODUCER_TOKEN = "producer-token-fedcba9876543210"
LINK_SECRET = "link-secret-" + "k" * 32
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-9f8e7d6c"
WECHAT_SECRET = "wechat-secret-5a4b3c2d"
WECHAT_TOKEN = "wechat-callback-token-77aa"
BROADCAST_TOKEN = "broadcast-token-1a2b3c4d"
SECRETS = (
    AMQP_PASSWORD,
    DB_PASSWORD,
    OPS_TOKEN,
    PRODUCER_TOKEN,
    LINK_SECRET,
    TWILIO_TOKEN,
    WECHAT_SECRET,
    WECHAT_TOKEN,
    BROADCAST_TOKEN,
)


@pytest.fixture
def full_env(tmp_path: Path) -> dict[str, str]:
    """A complete, valid configuration with every provider and every secret set."""
    roster = tmp_path / "roster"
    roster.mkdir()
    policy = tmp_path / "policy.yaml"
    policy.write_text("red: {}\n", encoding="utf-8")
    return {
        "JIAOYING_DB_URL": f"postgresql+asyncpg://jiaoying:{DB_PASSWORD}@db:5432/jiaoying",
        "JIAOYING_AMQP_URL": f"amqp://jiaoying:{AMQP_PASSWORD}@mq:5672/warnings",
        "JIAOYING_HTTP_HOST": "10.0.0.5",
        "JIAOYING_HTTP_PORT": "9090",
        "JIAOYING_PUBLIC_URL": "https://jiaoying.example.cn/base/",
        "JIAOYING_ROSTER_DIR": str(roster),
        "JIAOYING_POLICY": str(policy),
        "JIAOYING_TEMPLATES_DIR": str(tmp_path),
        "JIAOYING_API_TOKENS": f"ops:{OPS_TOKEN}, producer:{PRODUCER_TOKEN}",
        "JIAOYING_LINK_SECRET": LINK_SECRET,
        "JIAOYING_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "JIAOYING_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "JIAOYING_TWILIO_FROM": "+12025550123",
        "JIAOYING_TWILIO_API_BASE": "http://127.0.0.1:9001/",
        "JIAOYING_WECHAT_APPID": "wx0123456789abcdef",
        "JIAOYING_WECHAT_SECRET": WECHAT_SECRET,
        "JIAOYING_WECHAT_TEMPLATE_ID": "tpl-red-warning",
        "JIAOYING_WECHAT_TOKEN": WECHAT_TOKEN,
        "JIAOYING_WECHAT_API_BASE": "http://127.0.0.1:9002",
        "JIAOYING_BROADCAST_URL": "https://broadcast.example.cn/api",
        "JIAOYING_BROADCAST_TOKEN": BROADCAST_TOKEN,
        "JIAOYING_LOG_LEVEL": "debug",
        "JIAOYING_SHUTDOWN_GRACE": "7.5",
    }


def problems_of(environ: dict[str, str]) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return caught.value.problems


def test_defaults_run_with_an_empty_environment() -> None:
    settings = load_settings({})
    assert settings.db_url == "sqlite+aiosqlite:///./var/jiaoying.db"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.roster_dir == REPO / "examples" / "roster"
    assert settings.policy == REPO / "examples" / "policy.yaml"
    assert settings.templates_dir == REPO / "templates"
    assert settings.api_tokens == {}
    assert settings.amqp_url is None and not settings.amqp_configured
    assert settings.link_secret is None
    assert not (
        settings.twilio_configured or settings.wechat_configured or settings.broadcast_configured
    )
    assert settings.twilio_api_base is None
    assert settings.wechat_api_base == "https://api.weixin.qq.com"
    assert (settings.log_level, settings.shutdown_grace) == ("INFO", 20.0)


def test_an_installed_wheel_defaults_to_its_packaged_copies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Outside a checkout (no pyproject.toml beside the package) the wheel's force-included
    # copies are the defaults, even if site-packages holds some other `examples/`.
    (tmp_path / "examples" / "roster").mkdir(parents=True)
    monkeypatch.setattr(settings_module, "_REPO_DIR", tmp_path)
    package = REPO / "dispatcher"
    settings = load_settings({})
    assert settings.roster_dir == package / "_examples" / "roster"
    assert settings.policy == package / "_examples" / "policy.yaml"
    assert settings.templates_dir == package / "_templates"


def test_every_value_is_read_and_normalised(full_env: dict[str, str]) -> None:
    settings = load_settings(full_env)
    assert settings.http_host == "10.0.0.5"
    assert settings.http_port == 9090
    assert settings.public_url == "https://jiaoying.example.cn/base"
    assert settings.roster_dir == Path(full_env["JIAOYING_ROSTER_DIR"])
    assert settings.policy == Path(full_env["JIAOYING_POLICY"])
    assert {name: token.get_secret_value() for name, token in settings.api_tokens.items()} == {
        "ops": OPS_TOKEN,
        "producer": PRODUCER_TOKEN,
    }
    assert settings.link_secret == SecretStr(LINK_SECRET)
    assert settings.twilio_auth_token == SecretStr(TWILIO_TOKEN)
    assert settings.twilio_api_base == "http://127.0.0.1:9001"
    assert settings.wechat_api_base == "http://127.0.0.1:9002"
    assert settings.amqp_url == f"amqp://jiaoying:{AMQP_PASSWORD}@mq:5672/warnings"
    assert settings.amqp_configured
    assert settings.twilio_configured and settings.wechat_configured
    assert settings.broadcast_configured
    assert (settings.log_level, settings.shutdown_grace) == ("DEBUG", 7.5)
    assert settings.startup_notices() == []


def test_settings_are_frozen(full_env: dict[str, str]) -> None:
    settings = load_settings(full_env)
    with pytest.raises(ValidationError):
        settings.http_port = 1  # type: ignore[misc]


def test_blank_variables_count_as_unset() -> None:
    settings = load_settings(
        {"JIAOYING_AMQP_URL": "", "JIAOYING_TWILIO_ACCOUNT_SID": "  ", "JIAOYING_HTTP_PORT": ""}
    )
    assert settings.amqp_url is None
    assert not settings.twilio_configured
    assert settings.http_port == 8080


def test_an_explicit_mapping_is_the_only_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIAOYING_HTTP_PORT", "9999")
    assert load_settings({}).http_port == 8080
    assert load_settings().http_port == 9999


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("HTTP_PORT", "abc", "JIAOYING_HTTP_PORT: must be between 1 and 65535 (got 'abc')"),
        ("HTTP_PORT", "0", "JIAOYING_HTTP_PORT: must be between 1 and 65535 (got '0')"),
        ("HTTP_PORT", "65536", "JIAOYING_HTTP_PORT: must be between 1 and 65535 (got '65536')"),
        ("HTTP_PORT", "-1", "JIAOYING_HTTP_PORT: must be between 1 and 65535 (got '-1')"),
        ("HTTP_HOST", "local host", "JIAOYING_HTTP_HOST: must be one word without spaces"),
        (
            "PUBLIC_URL",
            "ftp://jiaoying.example.cn",
            "JIAOYING_PUBLIC_URL: must be an http:// or https:// URL with a host "
            "(got 'ftp://jiaoying.example.cn')",
        ),
        (
            "PUBLIC_URL",
            "jiaoying.example.cn",
            "JIAOYING_PUBLIC_URL: must be an http:// or https:// URL with a host "
            "(got 'jiaoying.example.cn')",
        ),
        (
            "PUBLIC_URL",
            "https://jiaoying.example.cn/?x=1",
            "JIAOYING_PUBLIC_URL: must not carry a query or fragment "
            "(got 'https://jiaoying.example.cn/?x=1')",
        ),
        (
            "WECHAT_API_BASE",
            "api.weixin.qq.com",
            "JIAOYING_WECHAT_API_BASE: must be an http:// or https:// URL with a host "
            "(got 'api.weixin.qq.com')",
        ),
        (
            "DB_URL",
            "postgresql://u:secret-db-pw@db/j",
            "JIAOYING_DB_URL: must use sqlite+aiosqlite or postgresql+asyncpg "
            "(got 'postgresql://u:***@db/j')",
        ),
        ("DB_URL", "not a url", "JIAOYING_DB_URL: not a database URL (got 'not a url')"),
        (
            "AMQP_URL",
            "http://u:secret-mq-pw@mq/",
            "JIAOYING_AMQP_URL: must be an amqp:// or amqps:// URL with a host "
            "(got 'http://u:***@mq/')",
        ),
        (
            "AMQP_URL",
            "amqp://u:secret-mq-pw@mq:port/",
            "JIAOYING_AMQP_URL: not a URL (got 'amqp://u:***@mq:port/')",
        ),
        (
            "ROSTER_DIR",
            "/nonexistent/roster",
            "JIAOYING_ROSTER_DIR: no such directory or .xlsx workbook (got '/nonexistent/roster')",
        ),
        (
            "TEMPLATES_DIR",
            "/nonexistent/templates",
            "JIAOYING_TEMPLATES_DIR: no such directory (got '/nonexistent/templates')",
        ),
        ("POLICY", "/", "JIAOYING_POLICY: no such file (got '/')"),
        ("LINK_SECRET", "s" * 31, "JIAOYING_LINK_SECRET: must be at least 32 characters long"),
        (
            "LOG_LEVEL",
            "loud",
            "JIAOYING_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got 'LOUD')",
        ),
        (
            "SHUTDOWN_GRACE",
            "soon",
            "JIAOYING_SHUTDOWN_GRACE: must be a number of seconds, 0 or more (got 'soon')",
        ),
        (
            "SHUTDOWN_GRACE",
            "-1",
            "JIAOYING_SHUTDOWN_GRACE: must be a number of seconds, 0 or more (got '-1')",
        ),
        (
            "SHUTDOWN_GRACE",
            "inf",
            "JIAOYING_SHUTDOWN_GRACE: must be a number of seconds, 0 or more (got 'inf')",
        ),
    ],
)
def test_a_bad_value_is_reported_with_its_variable(variable: str, value: str, problem: str) -> None:
    assert problems_of({f"JIAOYING_{variable}": value}) == (problem,)


@pytest.mark.parametrize(
    ("tokens", "problems"),
    [
        (f"ops:{OPS_TOKEN},{PRODUCER_TOKEN}", ["entry 2 is not name:token"]),
        (f":{OPS_TOKEN}", ["entry 1 is not name:token"]),
        ("ops:short-token", ["token 'ops' is shorter than 16 characters"]),
        (
            f"ops:{OPS_TOKEN},ops:{PRODUCER_TOKEN}",
            ["name 'ops' is used twice"],
        ),
        (
            f"ops:{OPS_TOKEN},audit:{OPS_TOKEN}",
            ["token 'audit' is the same as another name's token"],
        ),
        (
            f"duty officer:{OPS_TOKEN},x:tiny",
            [
                "name 'duty officer' may use only letters, digits, '.', '_', '-'",
                "token 'x' is shorter than 16 characters",
            ],
        ),
    ],
)
def test_api_tokens_are_checked_entry_by_entry(tokens: str, problems: list[str]) -> None:
    reported = problems_of({"JIAOYING_API_TOKENS": tokens})
    assert reported == tuple(f"JIAOYING_API_TOKENS: {problem}" for problem in problems)
    assert OPS_TOKEN not in "\n".join(reported)
    assert PRODUCER_TOKEN not in "\n".join(reported)


def test_api_tokens_tolerate_spaces_and_a_trailing_comma() -> None:
    settings = load_settings({"JIAOYING_API_TOKENS": f" ops : {OPS_TOKEN} ,"})
    assert settings.api_token_name(OPS_TOKEN) == "ops"


def test_a_presented_token_is_matched_to_its_name(full_env: dict[str, str]) -> None:
    settings = load_settings(full_env)
    assert settings.api_token_name(OPS_TOKEN) == "ops"
    assert settings.api_token_name(PRODUCER_TOKEN) == "producer"
    assert settings.api_token_name(OPS_TOKEN[:-1]) is None
    assert settings.api_token_name("") is None
    assert load_settings({}).api_token_name(OPS_TOKEN) is None


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"TWILIO_ACCOUNT_SID": TWILIO_SID}, ["TWILIO_AUTH_TOKEN", "TWILIO_FROM"]),
        (
            {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_FROM": "+12025550123"},
            ["TWILIO_ACCOUNT_SID"],
        ),
        ({"WECHAT_SECRET": WECHAT_SECRET}, ["WECHAT_APPID", "WECHAT_TEMPLATE_ID", "WECHAT_TOKEN"]),
        (
            {"WECHAT_APPID": "wx0123456789abcdef"},
            ["WECHAT_SECRET", "WECHAT_TEMPLATE_ID", "WECHAT_TOKEN"],
        ),
        ({"BROADCAST_URL": "https://broadcast.example.cn"}, ["BROADCAST_TOKEN"]),
        ({"BROADCAST_TOKEN": BROADCAST_TOKEN}, ["BROADCAST_URL"]),
    ],
)
def test_provider_credentials_are_all_or_nothing(given: dict[str, str], missing: list[str]) -> None:
    (problem,) = problems_of({f"JIAOYING_{name}": value for name, value in given.items()})
    named, reason = problem.split(": ", 1)
    assert named.split(", ") == [f"JIAOYING_{name}" for name in missing]
    assert all(f"JIAOYING_{name}" in reason for name in given)
    assert "all or nothing" in reason
    assert all(value not in problem for value in given.values())


def test_bad_provider_credentials_are_named_but_not_shown(full_env: dict[str, str]) -> None:
    # An auth token pasted into the SID variable must not be printed back.
    full_env["JIAOYING_TWILIO_ACCOUNT_SID"] = TWILIO_TOKEN
    full_env["JIAOYING_TWILIO_FROM"] = "13800138000"
    full_env["JIAOYING_WECHAT_SECRET"] = "two words"
    assert problems_of(full_env) == (
        "JIAOYING_TWILIO_ACCOUNT_SID: must be AC followed by 32 hex digits",
        "JIAOYING_TWILIO_FROM: must be an E.164 phone number such as +12025550123",
        "JIAOYING_WECHAT_SECRET: must be one word without spaces",
    )


def test_every_problem_is_listed_together() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "JIAOYING_HTTP_PORT": "abc",
                "JIAOYING_PUBLIC_URL": "ftp://x",
                "JIAOYING_LINK_SECRET": "short",
                "JIAOYING_API_TOKENS": "ops:tiny",
                "JIAOYING_TWILIO_ACCOUNT_SID": TWILIO_SID,
                "JIAOYING_BROADCAST_TOKEN": BROADCAST_TOKEN,
            }
        )
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == "configuration has 6 problem(s):"
    assert [line.split(":", 1)[0] for line in lines[1:]] == [
        "JIAOYING_HTTP_PORT",
        "JIAOYING_PUBLIC_URL",
        "JIAOYING_API_TOKENS",
        "JIAOYING_LINK_SECRET",
        "JIAOYING_TWILIO_AUTH_TOKEN, JIAOYING_TWILIO_FROM",
        "JIAOYING_BROADCAST_URL",
    ]
    assert caught.value.problems == tuple(lines[1:])


def test_a_cross_field_problem_alone_is_reported_once() -> None:
    # With every field valid the model's own check runs as well; it must not double up.
    assert len(problems_of({"JIAOYING_TWILIO_ACCOUNT_SID": TWILIO_SID})) == 1


def test_no_secret_in_repr_or_str(full_env: dict[str, str]) -> None:
    settings = load_settings(full_env)
    for text in (repr(settings), str(settings)):
        assert "amqp://jiaoying:***@mq:5672/warnings" in text
        assert "postgresql+asyncpg://jiaoying:***@db:5432/jiaoying" in text
        assert "'ops'" in text
        for secret in SECRETS:
            assert secret not in text


def test_no_secret_in_the_error_or_its_traceback(full_env: dict[str, str]) -> None:
    full_env["JIAOYING_HTTP_PORT"] = "http"  # one problem, so that an error is raised
    full_env["JIAOYING_API_TOKENS"] = f"ops:{OPS_TOKEN},{PRODUCER_TOKEN}"
    full_env["JIAOYING_LINK_SECRET"] = LINK_SECRET[:20]
    full_env["JIAOYING_AMQP_URL"] = f"amqps://jiaoying:{AMQP_PASSWORD}@"
    with pytest.raises(SettingsError) as caught:
        load_settings(full_env)
    assert len(caught.value.problems) == 4
    # The ValidationError holds the raw input; it must not ride along as the context.
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    for secret in (*SECRETS, LINK_SECRET[:20]):
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value)


def test_a_direct_validation_error_hides_its_input() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(twilio_auth_token=TWILIO_TOKEN)
    assert "JIAOYING_TWILIO_ACCOUNT_SID" in str(caught.value)
    assert TWILIO_TOKEN not in str(caught.value)


def test_keyword_arguments_are_checked_like_the_environment(tmp_path: Path) -> None:
    settings = Settings(roster_dir=tmp_path, http_port=8443, amqp_url=None)
    assert (settings.roster_dir, settings.http_port) == (tmp_path, 8443)
    with pytest.raises(ValidationError, match="no such directory"):
        Settings(roster_dir=tmp_path / "missing")


def test_startup_notices_say_what_runs_degraded(full_env: dict[str, str]) -> None:
    notices = load_settings({}).startup_notices()
    assert any(notice.startswith("JIAOYING_AMQP_URL is unset") for notice in notices)
    assert any(notice.startswith("JIAOYING_API_TOKENS is unset") for notice in notices)
    assert any(notice.startswith("JIAOYING_LINK_SECRET is unset") for notice in notices)
    assert "simulate mode, nothing is really sent: sms, voice, wechat, broadcast" in notices
    full_env["JIAOYING_PUBLIC_URL"] = "http://localhost:8080"
    assert load_settings(full_env).startup_notices() == [
        "JIAOYING_PUBLIC_URL is http://localhost:8080: providers cannot reach the callbacks there"
    ]


def test_settings_or_exit_prints_the_report_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        settings_or_exit({"JIAOYING_HTTP_PORT": "abc", "JIAOYING_LINK_SECRET": LINK_SECRET[:9]})
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "jiaoying: configuration has 2 problem(s):",
        "JIAOYING_HTTP_PORT: must be between 1 and 65535 (got 'abc')",
        "JIAOYING_LINK_SECRET: must be at least 32 characters long",
    ]


def test_settings_or_exit_returns_good_settings() -> None:
    assert settings_or_exit({"JIAOYING_HTTP_PORT": "8081"}).http_port == 8081


def test_a_process_with_bad_settings_exits_2_without_a_traceback() -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("JIAOYING_")}
    environ |= {"JIAOYING_HTTP_PORT": "abc", "JIAOYING_TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dispatcher.runtime.settings import settings_or_exit as s; s()",
        ],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "JIAOYING_HTTP_PORT: must be between 1 and 65535 (got 'abc')" in completed.stderr
    assert "JIAOYING_TWILIO_ACCOUNT_SID, JIAOYING_TWILIO_FROM: missing" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert TWILIO_TOKEN not in completed.stderr + completed.stdout
