"""Which provider serves SMS and voice, and what a choice of Alibaba Cloud needs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dispatcher.providers import provider_template_problems
from dispatcher.runtime.provider_choice import NOTICE_KINDS
from dispatcher.runtime.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "aliyun-secret-0f1e2d3c"
CALLBACK_SECRET = "cb-secret-" + "a1" * 12
TWILIO = {
    "JIAOYING_TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "JIAOYING_TWILIO_AUTH_TOKEN": "twilio-auth-token-9f8e7d6c",
    "JIAOYING_TWILIO_FROM": "+12025550123",
}
ALIYUN_SMS = {
    "JIAOYING_SMS_PROVIDER": "aliyun",
    "JIAOYING_ALIYUN_ACCESS_KEY_ID": "LTAI5tJiaoyingTestKey01",
    "JIAOYING_ALIYUN_ACCESS_KEY_SECRET": SECRET,
    "JIAOYING_ALIYUN_SMS_SIGN_NAME": "某县应急管理局",
    "JIAOYING_ALIYUN_SMS_TEMPLATES": ",".join(
        f"{kind}=SMS_46812{n}" for n, kind in enumerate(NOTICE_KINDS)
    ),
    "JIAOYING_CALLBACK_SECRETS": f"{CALLBACK_SECRET},old-secret-{'b2' * 10}",
}


def problems_of(environ: dict[str, str]) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    for problem in caught.value.problems:
        assert SECRET not in problem and CALLBACK_SECRET not in problem
    return caught.value.problems


def test_simulate_mode_without_credentials_and_twilio_by_default_with_its_own() -> None:
    assert load_settings({}).provider_of("sms") is None
    assert load_settings({}).provider_of("voice") is None
    assert load_settings(TWILIO).provider_of("sms") == "twilio"


def test_alibaba_cloud_serves_sms_and_twilio_still_serves_voice() -> None:
    settings = load_settings({**TWILIO, **ALIYUN_SMS})
    assert settings.provider_of("sms") == "aliyun"
    assert settings.provider_of("voice") == "twilio"
    assert settings.real_providers == ("Twilio", "Aliyun")
    assert settings.aliyun_sms_templates["door_knock"] == "SMS_468125"
    assert len(settings.callback_secrets) == 2, "old and new accepted during a rotation"


def test_a_choice_of_alibaba_cloud_without_what_it_needs_names_every_missing_piece() -> None:
    problems = problems_of(
        {
            "JIAOYING_SMS_PROVIDER": "aliyun",
            "JIAOYING_ALIYUN_ACCESS_KEY_ID": "LTAI5tJiaoyingTestKey01",
            "JIAOYING_ALIYUN_ACCESS_KEY_SECRET": SECRET,
            "JIAOYING_ALIYUN_SMS_TEMPLATES": "alert=SMS_1,update=SMS_2",
        }
    )
    text = "\n".join(problems)
    assert "JIAOYING_ALIYUN_SMS_SIGN_NAME" in text
    assert "JIAOYING_CALLBACK_SECRETS" in text
    assert "missing: cancel, clear, escalation, door_knock" in text


def test_unused_credentials_and_unknown_choices_are_refused() -> None:
    unused = {key: value for key, value in ALIYUN_SMS.items() if key != "JIAOYING_SMS_PROVIDER"}
    assert any("would go unused" in problem for problem in problems_of(unused))
    voice = problems_of(
        {**ALIYUN_SMS, "JIAOYING_VOICE_PROVIDER": "aliyun", "JIAOYING_ALIYUN_IVR_NUMBER": "0571"}
    )
    assert any("JIAOYING_ALIYUN_TTS_TEMPLATES" in problem for problem in voice)
    assert any("needs JIAOYING_ALIYUN_IVR_THANKS_CODE" in problem for problem in voice)
    assert any(
        "must be one of twilio, aliyun, tencent" in problem
        for problem in problems_of({"JIAOYING_SMS_PROVIDER": "nexmo"})
    )
    assert any(
        "twilio" in problem and "JIAOYING_TWILIO_ACCOUNT_SID" in problem
        for problem in problems_of({"JIAOYING_SMS_PROVIDER": "twilio"})
    )


def test_bad_template_lists_and_short_callback_secrets_are_named_not_quoted() -> None:
    problems = problems_of(
        {
            **ALIYUN_SMS,
            "JIAOYING_ALIYUN_SMS_TEMPLATES": "alert=SMS_1,warning=SMS_2,update=SMS 3",
            "JIAOYING_CALLBACK_SECRETS": "short",
        }
    )
    text = "\n".join(problems)
    assert "'warning' is not a notice kind" in text
    assert "update: must be kind=template id" in text
    assert "secret 1 must be at least 24" in text and "short" not in text.replace("shorter", "")


def test_alibaba_cloud_serves_voice_with_an_ivr_number() -> None:
    settings = load_settings(
        {
            **ALIYUN_SMS,
            "JIAOYING_VOICE_PROVIDER": "aliyun",
            "JIAOYING_ALIYUN_TTS_TEMPLATES": ",".join(
                f"{kind}=TTS_28120{n}" for n, kind in enumerate(NOTICE_KINDS)
            ),
            "JIAOYING_ALIYUN_IVR_NUMBER": "057188880000",
            "JIAOYING_ALIYUN_IVR_THANKS_CODE": "TTS_281299",
        }
    )
    assert (settings.provider_of("sms"), settings.provider_of("voice")) == ("aliyun", "aliyun")


def test_tencent_cloud_needs_its_app_ids_and_templates() -> None:
    problems = problems_of(
        {
            "JIAOYING_SMS_PROVIDER": "tencent",
            "JIAOYING_VOICE_PROVIDER": "tencent",
            "JIAOYING_TENCENT_SECRET_ID": "AKIDjiaoyingTestSecretId01",
            "JIAOYING_TENCENT_SECRET_KEY": SECRET,
            "JIAOYING_CALLBACK_SECRETS": CALLBACK_SECRET,
            "JIAOYING_TENCENT_VMS_NIGHT_CALLS": "maybe",
        }
    )
    text = "\n".join(problems)
    assert "JIAOYING_TENCENT_VMS_NIGHT_CALLS: must be true or false" in text


def test_the_chosen_provider_s_templates_are_checked_before_the_service_starts(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    environ = {**ALIYUN_SMS, "JIAOYING_TEMPLATES_DIR": str(tmp_path / "templates")}
    assert provider_template_problems(load_settings(environ)) == []
    (tmp_path / "templates" / "aliyun" / "sms" / "clear.txt").unlink()
    (tmp_path / "templates" / "aliyun" / "sms" / "cancel.txt").write_text(
        "${name}：${area}已取消。", encoding="utf-8"
    )
    (problem,) = provider_template_problems(load_settings(environ))
    assert "aliyun/sms" in problem
    assert "cancel: unknown variable(s) area" in problem and "clear: no template file" in problem
