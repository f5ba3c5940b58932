"""The channel adapters the settings ask for: part of the composition root.

Hand-written on purpose: which provider serves which channel is visible in one place. A
channel whose provider's credentials are not configured stays in simulate mode. The
domestic clouds' SDKs are imported where their channels are built: a service on Twilio
never loads them (some 60 MB of modules, a seventh of its memory at 100,000 recipients).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp

from channels.aliyun_wire import VARIABLE_LIMIT
from channels.broadcast import Broadcast
from channels.provider_templates import ProviderTemplate, TemplateProblem, read_templates
from channels.registry import Providers, simulated_channels
from channels.twilio_http import TwilioApi
from channels.twilio_sms import TwilioSms
from channels.twilio_voice import TwilioVoice
from channels.wechat import WeChatTemplate
from channels.wechat_token import AccessTokens
from dispatcher.core.errors import TemplateError
from dispatcher.runtime.provider_choice import NOTICE_KINDS
from dispatcher.runtime.settings import Settings

if TYPE_CHECKING:
    from channels.aliyun_sms import AliyunSms
    from channels.aliyun_voice import AliyunVoice
    from channels.tencent_api import SdkPool
    from channels.tencent_sms import TencentSms
    from channels.tencent_voice import TencentVoice


def build_providers(
    settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Providers:
    """One adapter per channel name; call inside the running event loop (HTTP sessions).
    `clock` is the service's: what the adapters date (validity, play times) follows it."""
    session = aiohttp.ClientSession()
    channels = simulated_channels()
    providers = Providers(channels, session)
    # The settings guarantee each provider's credentials are all given or none; testing
    # every one of them here also tells the type checker they are set.
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        twilio = TwilioApi(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            api_base=settings.twilio_api_base,
        )
        providers.twilio = twilio
        if settings.provider_of("sms") == "twilio":
            channels["sms"] = TwilioSms(
                twilio, from_=settings.twilio_from, public_url=settings.public_url, clock=clock
            )
        if settings.provider_of("voice") == "twilio":
            channels["voice"] = TwilioVoice(
                twilio, from_=settings.twilio_from, public_url=settings.public_url
            )
    if settings.provider_of("sms") == "aliyun":
        channels["sms"] = aliyun_sms(settings)
    if settings.provider_of("voice") == "aliyun":
        channels["voice"] = aliyun_voice(settings)
    if "tencent" in (settings.provider_of("sms"), settings.provider_of("voice")):
        from channels.tencent_api import SdkPool

        providers.tencent_pool = SdkPool()
        channels.update(tencent_channels(settings, providers.tencent_pool))
    if settings.wechat_appid and settings.wechat_secret and settings.wechat_template_id:
        tokens = AccessTokens(
            session,
            api_base=settings.wechat_api_base,
            appid=settings.wechat_appid,
            appsecret=settings.wechat_secret.get_secret_value(),
        )
        channels["wechat"] = WeChatTemplate(
            session,
            tokens,
            template_id=settings.wechat_template_id,
            api_base=settings.wechat_api_base,
            clock=clock,
        )
    if settings.broadcast_url and settings.broadcast_token:
        channels["broadcast"] = Broadcast(
            session,
            url=settings.broadcast_url,
            token=settings.broadcast_token.get_secret_value(),
            public_url=settings.public_url,
            clock=clock,
        )
    providers.simulated = [name for name, channel in channels.items() if channel.simulated]
    return providers


def provider_template_problems(settings: Settings) -> list[str]:
    """Each problem of the templates the chosen providers will send, with its id, named
    by folder and kind: checked before the service starts, so a template the provider
    would refuse stops the start rather than the first warning."""
    problems: list[str] = []
    for channel in ("sms", "voice"):
        provider = settings.provider_of(channel) or ""
        if _template_ids(settings, provider, channel) is None:
            continue
        try:
            _templates(settings, provider, channel)
        except TemplateProblem as problem:
            problems.append(str(problem))
    return problems


def _template_ids(settings: Settings, provider: str, channel: str) -> Mapping[str, str] | None:
    """The provider's approved template id per notice kind; None for a provider that
    takes our own text (Twilio) on that channel."""
    return {
        ("aliyun", "sms"): settings.aliyun_sms_templates,
        ("aliyun", "voice"): settings.aliyun_tts_templates,
        ("tencent", "sms"): settings.tencent_sms_templates,
        ("tencent", "voice"): settings.tencent_vms_templates,
    }.get((provider, channel))


def _templates(settings: Settings, provider: str, channel: str) -> dict[str, ProviderTemplate]:
    """The templates `provider` sends on `channel`, read and checked from
    `templates/<provider>/<channel>/`; raises TemplateProblem. Tencent Cloud numbers a
    template's variables ({1}, {2} …), Alibaba Cloud names them."""
    return read_templates(
        settings.templates_dir / provider / channel,
        _template_ids(settings, provider, channel) or {},
        numbered=provider == "tencent",
        limit=VARIABLE_LIMIT,
        kinds=NOTICE_KINDS,
    )


def check_provider_templates(settings: Settings) -> None:
    """Raise TemplateError listing `provider_template_problems`, if any."""
    problems = provider_template_problems(settings)
    if problems:
        raise TemplateError(problems)


def aliyun_sms(settings: Settings) -> AliyunSms:
    """Alibaba Cloud SMS, its templates read and checked from `templates/aliyun/sms/`."""
    key_id, secret = settings.aliyun_access_key_id, settings.aliyun_access_key_secret
    sign_name = settings.aliyun_sms_sign_name
    if not (key_id and secret and sign_name):  # the settings refuse such a choice
        raise ValueError("Alibaba Cloud SMS needs its credentials and sign name")
    from channels.aliyun_sms import AliyunSms

    templates = _templates(settings, "aliyun", "sms")
    return AliyunSms(
        endpoint=settings.aliyun_sms_endpoint,
        access_key_id=key_id,
        access_key_secret=secret.get_secret_value(),
        sign_name=sign_name,
        templates=templates,
    )


def aliyun_voice(settings: Settings) -> AliyunVoice:
    """Alibaba Cloud voice, its TTS templates read and checked from
    `templates/aliyun/voice/`."""
    key_id, secret = settings.aliyun_access_key_id, settings.aliyun_access_key_secret
    if not (key_id and secret):  # the settings refuse such a choice
        raise ValueError("Alibaba Cloud voice needs its credentials")
    from channels.aliyun_voice import AliyunVoice

    templates = _templates(settings, "aliyun", "voice")
    return AliyunVoice(
        endpoint=settings.aliyun_vms_endpoint,
        access_key_id=key_id,
        access_key_secret=secret.get_secret_value(),
        templates=templates,
        ivr_number=settings.aliyun_ivr_number,
        thanks_code=settings.aliyun_ivr_thanks_code,
        show_number=settings.aliyun_voice_show_number,
    )


def tencent_channels(settings: Settings, pool: SdkPool) -> dict[str, TencentSms | TencentVoice]:
    """Tencent Cloud's SMS and voice, for the channels that chose it, their templates read
    and checked from `templates/tencent/`."""
    secret_id, key = settings.tencent_secret_id, settings.tencent_secret_key
    if not (secret_id and key):  # the settings refuse such a choice
        raise ValueError("Tencent Cloud needs its credentials")
    from channels.tencent_sms import TencentSms
    from channels.tencent_voice import TencentVoice

    built: dict[str, TencentSms | TencentVoice] = {}
    if settings.provider_of("sms") == "tencent" and settings.tencent_sms_app_id:
        built["sms"] = TencentSms(
            endpoint=settings.tencent_sms_endpoint,
            app_id=settings.tencent_sms_app_id,
            sign_name=settings.tencent_sms_sign_name or "",
            templates=_templates(settings, "tencent", "sms"),
            secret_id=secret_id,
            secret_key=key.get_secret_value(),
            region=settings.tencent_region,
            pool=pool,
        )
    if settings.provider_of("voice") == "tencent" and settings.tencent_vms_app_id:
        built["voice"] = TencentVoice(
            endpoint=settings.tencent_vms_endpoint,
            app_id=settings.tencent_vms_app_id,
            templates=_templates(settings, "tencent", "voice"),
            night_calls=settings.tencent_vms_night_calls,
            secret_id=secret_id,
            secret_key=key.get_secret_value(),
            region=settings.tencent_region,
            pool=pool,
        )
    return built
