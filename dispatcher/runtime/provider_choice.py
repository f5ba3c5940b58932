"""Which provider serves the "sms" and "voice" channels, and what each choice needs set.

`JIAOYING_SMS_PROVIDER` and `JIAOYING_VOICE_PROVIDER` name `twilio`, `aliyun` or `tencent`; unset,
a channel goes through Twilio when Twilio's credentials are given and runs in simulate
mode otherwise. A provider chosen for a channel must have everything
that channel's requests need (credentials, sign, one pre-approved template per notice
kind, app ids, and the callback secret its pushes are checked with); credentials given
for a domestic provider that no channel uses are a mistake, not a silent simulate mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dispatcher.core.machine import NoticeKind

__all__ = ["NOTICE_KINDS", "PROVIDERS", "chosen_provider", "provider_problems"]

PROVIDERS = ("twilio", "aliyun", "tencent")
NOTICE_KINDS = tuple(kind.value for kind in NoticeKind)

# The fields a (channel, provider) choice cannot do without; template mappings are
# checked for every notice kind separately.
_NEEDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sms", "twilio"): ("twilio_account_sid",),
    ("voice", "twilio"): ("twilio_account_sid",),
    ("sms", "aliyun"): ("aliyun_access_key_id", "aliyun_sms_sign_name", "callback_secrets"),
    ("voice", "aliyun"): ("aliyun_access_key_id", "callback_secrets"),
    ("sms", "tencent"): (
        "tencent_secret_id",
        "tencent_sms_app_id",
        "tencent_sms_sign_name",
        "callback_secrets",
    ),
    ("voice", "tencent"): ("tencent_secret_id", "tencent_vms_app_id", "callback_secrets"),
}
_TEMPLATES: dict[tuple[str, str], str] = {
    ("sms", "aliyun"): "aliyun_sms_templates",
    ("voice", "aliyun"): "aliyun_tts_templates",
    ("sms", "tencent"): "tencent_sms_templates",
    ("voice", "tencent"): "tencent_vms_templates",
}
_CREDENTIALS = {"aliyun": "aliyun_access_key_id", "tencent": "tencent_secret_id"}


def chosen_provider(channel: str, get: Callable[[str], Any]) -> str | None:
    """The provider serving `channel` ("sms" or "voice"), None for simulate mode."""
    named = get(f"{channel}_provider")
    if named is not None:
        return str(named)
    return "twilio" if get("twilio_account_sid") is not None else None


def provider_problems(get: Callable[[str], Any], env_name: Callable[[str], str]) -> list[str]:
    """One line per missing piece of the chosen providers' configuration."""
    problems: list[str] = []
    used: set[str] = set()
    for channel in ("sms", "voice"):
        provider = chosen_provider(channel, get)
        if provider is None:
            continue
        used.add(provider)
        choice = f"{env_name(channel + '_provider')}={provider}"
        if (channel, provider) not in _NEEDS:
            problems.append(f"{choice}: {provider} does not serve {channel} (yet)")
            continue
        missing = [env_name(name) for name in _NEEDS[(channel, provider)] if not get(name)]
        if missing:
            problems.append(f"{choice} needs {', '.join(missing)}")
        templates_field = _TEMPLATES.get((channel, provider))
        if templates_field is not None:
            templates: Mapping[str, str] = get(templates_field) or {}
            absent = [kind for kind in NOTICE_KINDS if kind not in templates]
            if absent:
                problems.append(
                    f"{choice} needs {env_name(templates_field)} to name a pre-approved "
                    f"template for every notice kind; missing: {', '.join(absent)}"
                )
    if get("aliyun_ivr_number") and not get("aliyun_ivr_thanks_code"):
        problems.append(
            f"{env_name('aliyun_ivr_number')} needs {env_name('aliyun_ivr_thanks_code')}: "
            "the prompt an IvrCall plays when key 1 is pressed"
        )
    for provider, field_name in _CREDENTIALS.items():
        if get(field_name) is not None and provider not in used:
            problems.append(
                f"{env_name(field_name)} is set but neither {env_name('sms_provider')} nor "
                f"{env_name('voice_provider')} is {provider}: its credentials would go unused"
            )
    return problems
