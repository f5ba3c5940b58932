"""Real providers never run on the example roster: which providers are real, what counts
as the example roster, and the refusal's words (the startup tier; tests/reliability/
test_first_start.py runs the same refusals as a real `jiaoying serve`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

from dispatcher.engine.example_roster import (
    ExampleRosterRefused,
    example_roster_kind,
    refuse_example_roster,
)
from dispatcher.files.roster_dir import load_roster
from dispatcher.providers import build_providers
from dispatcher.runtime import settings as settings_module
from dispatcher.runtime.provider_choice import NOTICE_KINDS
from dispatcher.runtime.settings import _CREDENTIAL_GROUPS, Settings, env_name, load_settings
from tests.rosters import write_county

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "roster"
PROVIDERS = {
    "Twilio": {
        "JIAOYING_TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
        "JIAOYING_TWILIO_AUTH_TOKEN": "twilio-auth-token-9f8e7d6c",
        "JIAOYING_TWILIO_FROM": "+12025550123",
    },
    "WeChat": {
        "JIAOYING_WECHAT_APPID": "wx0123456789abcdef",
        "JIAOYING_WECHAT_SECRET": "wechat-secret-5a4b3c2d",
        "JIAOYING_WECHAT_TEMPLATE_ID": "tpl-red-warning",
        "JIAOYING_WECHAT_TOKEN": "wechat-callback-token-77aa",
    },
    "broadcast": {
        "JIAOYING_BROADCAST_URL": "https://broadcast.example.cn/api",
        "JIAOYING_BROADCAST_TOKEN": "broadcast-token-1a2b3c4d",
    },
    "Aliyun": {
        "JIAOYING_SMS_PROVIDER": "aliyun",
        "JIAOYING_ALIYUN_ACCESS_KEY_ID": "LTAI5tJiaoyingTestKey01",
        "JIAOYING_ALIYUN_ACCESS_KEY_SECRET": "aliyun-secret-0f1e2d3c",
        "JIAOYING_ALIYUN_SMS_SIGN_NAME": "某县应急管理局",
        "JIAOYING_ALIYUN_SMS_TEMPLATES": ",".join(
            f"{kind}=SMS_46812{n}" for n, kind in enumerate(NOTICE_KINDS)
        ),
        "JIAOYING_VOICE_PROVIDER": "aliyun",
        "JIAOYING_ALIYUN_TTS_TEMPLATES": ",".join(
            f"{kind}=TTS_28120{n}" for n, kind in enumerate(NOTICE_KINDS)
        ),
        "JIAOYING_CALLBACK_SECRETS": "cb-secret-" + "a1" * 12,
    },
    "Tencent Cloud": {
        "JIAOYING_SMS_PROVIDER": "tencent",
        "JIAOYING_VOICE_PROVIDER": "tencent",
        "JIAOYING_TENCENT_SECRET_ID": "AKIDjiaoyingTestSecretId01",
        "JIAOYING_TENCENT_SECRET_KEY": "tencent-key-4e5f6a7b",
        "JIAOYING_TENCENT_SMS_APP_ID": "1400787878",
        "JIAOYING_TENCENT_SMS_SIGN_NAME": "某县应急管理局",
        "JIAOYING_TENCENT_SMS_TEMPLATES": ",".join(
            f"{kind}=19283{n}" for n, kind in enumerate(NOTICE_KINDS)
        ),
        "JIAOYING_TENCENT_VMS_APP_ID": "1400888888",
        "JIAOYING_TENCENT_VMS_TEMPLATES": ",".join(
            f"{kind}=29283{n}" for n, kind in enumerate(NOTICE_KINDS)
        ),
        "JIAOYING_CALLBACK_SECRETS": "cb-secret-" + "a1" * 12,
    },
}
# With every provider's credentials at once, each domestic one serves a channel.
BOTH = {"JIAOYING_SMS_PROVIDER": "aliyun", "JIAOYING_VOICE_PROVIDER": "tencent"}


def with_providers(*names: str, **more: str) -> Settings:
    environ = {key: value for name in names for key, value in PROVIDERS[name].items()}
    return load_settings({**environ, **more})


def test_every_provider_with_credentials_is_real_and_none_without() -> None:
    assert set(PROVIDERS) == set(_CREDENTIAL_GROUPS), "every provider is tried here"
    assert load_settings({}).real_providers == ()
    for name in PROVIDERS:
        assert with_providers(name).real_providers == (name,)
    assert with_providers(*PROVIDERS, **BOTH).real_providers == tuple(_CREDENTIAL_GROUPS)


async def real_channels(settings: Settings) -> list[str]:
    """The channels the registry builds to send for real with these settings."""
    providers = build_providers(settings)
    try:
        return sorted(name for name, channel in providers.channels.items() if not channel.simulated)
    finally:
        await providers.close()


async def test_the_registry_sends_for_real_exactly_through_the_real_providers() -> None:
    # The one place that says "is any provider real?" and the channels that really send
    # agree: a provider the registry builds but `real_providers` misses would escape the
    # example roster's rule.
    assert await real_channels(load_settings({})) == []
    built = {name: await real_channels(with_providers(name)) for name in PROVIDERS}
    assert built == {
        "Twilio": ["sms", "voice"],
        "WeChat": ["wechat"],
        "broadcast": ["broadcast"],
        "Aliyun": ["sms", "voice"],
        "Tencent Cloud": ["sms", "voice"],
    }


def test_the_example_roster_is_known_by_its_place_and_by_its_content(tmp_path: Path) -> None:
    example = load_roster(EXAMPLE)
    assert example_roster_kind(EXAMPLE, example) == "the example roster"
    assert example_roster_kind(EXAMPLE / ".." / "roster", example) == "the example roster"
    (tmp_path / "link").symlink_to(EXAMPLE)
    assert example_roster_kind(tmp_path / "link", example) == "the example roster"

    shutil.copytree(EXAMPLE, tmp_path / "copy")
    copy = load_roster(tmp_path / "copy")
    assert example_roster_kind(tmp_path / "copy", copy) == "a copy of the example roster"

    # Saved again by a spreadsheet: another byte order mark, line ends and row order;
    # the same persons and grids.
    persons = (EXAMPLE / "persons.csv").read_text(encoding="utf-8-sig").splitlines()
    resaved = tmp_path / "resaved"
    shutil.copytree(EXAMPLE, resaved)
    (resaved / "persons.csv").write_text(
        "\r\n".join([persons[0], *reversed(persons[1:])]) + "\r\n", encoding="utf-8"
    )
    assert example_roster_kind(resaved, load_roster(resaved)) == "a copy of the example roster"

    # One person's number changed: the county's own roster now.
    edited = tmp_path / "edited"
    shutil.copytree(EXAMPLE, edited)
    text = (edited / "persons.csv").read_text(encoding="utf-8-sig")
    (edited / "persons.csv").write_text(text.replace("13900130001", "13512340001", 1))
    assert example_roster_kind(edited, load_roster(edited)) is None

    county = write_county(tmp_path / "county", 55, per_village=10)
    assert example_roster_kind(county.directory, load_roster(county.directory)) is None


def test_the_example_workbook_is_the_example_roster_too(tmp_path: Path) -> None:
    shipped = EXAMPLE.with_suffix(".xlsx")
    workbook = load_roster(shipped)
    assert example_roster_kind(shipped, workbook) == "the example roster"

    # Copied out of examples/ under a county's name: caught by its content.
    shutil.copy(shipped, tmp_path / "陆河县网格名册.xlsx")
    copy = tmp_path / "陆河县网格名册.xlsx"
    assert example_roster_kind(copy, load_roster(copy)) == "a copy of the example roster"
    settings = with_providers("Twilio", JIAOYING_ROSTER_DIR=str(copy))
    with pytest.raises(ExampleRosterRefused) as refused:
        refuse_example_roster(settings, settings.roster_dir, load_roster(settings.roster_dir))
    assert str(refused.value).startswith(f"JIAOYING_ROSTER_DIR ({copy}) is a copy of")

    # A county's roster typed into the same workbook is the county's own.
    book = openpyxl.load_workbook(copy)
    persons = book["persons"]
    persons.cell(2, 3).value = "13512340001"
    book.save(copy)
    assert example_roster_kind(copy, load_roster(copy)) is None
    refuse_example_roster(settings, settings.roster_dir, load_roster(settings.roster_dir))


def test_an_installed_package_s_example_roster_is_the_example_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    packaged = tmp_path / "site-packages" / "dispatcher"
    shutil.copytree(EXAMPLE, packaged / "_examples" / "roster")
    monkeypatch.setattr(settings_module, "_REPO_DIR", tmp_path / "site-packages")
    monkeypatch.setattr(settings_module, "_PACKAGE_DIR", packaged)
    roster = load_roster(packaged / "_examples" / "roster")
    assert example_roster_kind(packaged / "_examples" / "roster", roster) == "the example roster"
    assert load_settings({}).roster_dir == packaged / "_examples" / "roster"


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_real_provider_on_the_default_roster_is_refused_naming_the_variable(
    provider: str,
) -> None:
    settings = with_providers(provider)
    roster = load_roster(settings.roster_dir)
    with pytest.raises(ExampleRosterRefused) as refused:
        refuse_example_roster(settings, settings.roster_dir, roster)
    message = str(refused.value)
    assert message.startswith(f"{env_name('roster_dir')} is unset")
    assert f"Set {env_name('roster_dir')} to your own roster" in message
    assert f"{provider} is configured" in message
    for variable, value in PROVIDERS[provider].items():
        if variable.endswith(("_TOKEN", "_SECRET")):
            assert value not in message


def test_a_given_roster_dir_is_named_in_the_refusal(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "roster")
    settings = with_providers("Twilio", "broadcast", JIAOYING_ROSTER_DIR=str(tmp_path / "roster"))
    with pytest.raises(ExampleRosterRefused) as refused:
        refuse_example_roster(settings, settings.roster_dir, load_roster(settings.roster_dir))
    message = str(refused.value)
    assert message.startswith(f"JIAOYING_ROSTER_DIR ({tmp_path / 'roster'}) is a copy of")
    assert "Twilio and broadcast are configured" in message


def test_simulate_mode_runs_on_the_example_roster_and_real_providers_on_a_county_s(
    tmp_path: Path,
) -> None:
    simulated = load_settings({})
    refuse_example_roster(simulated, simulated.roster_dir, load_roster(simulated.roster_dir))
    county = write_county(tmp_path / "county", 40)
    real = with_providers(*PROVIDERS, **BOTH, JIAOYING_ROSTER_DIR=str(county.directory))
    refuse_example_roster(real, real.roster_dir, load_roster(real.roster_dir))
