"""The channel adapters the settings ask for: part of the composition root.

Hand-written on purpose: which provider serves which channel is visible in one place. A
channel whose provider's credentials are not configured stays in simulate mode.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from channels.broadcast import Broadcast
from channels.registry import Providers, simulated_channels
from channels.twilio_http import TwilioApi
from channels.twilio_sms import TwilioSms
from channels.twilio_voice import TwilioVoice
from channels.wechat import WeChatTemplate
from channels.wechat_token import AccessTokens
from dispatcher.runtime.settings import Settings


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
        channels["sms"] = TwilioSms(
            twilio, from_=settings.twilio_from, public_url=settings.public_url, clock=clock
        )
        channels["voice"] = TwilioVoice(
            twilio, from_=settings.twilio_from, public_url=settings.public_url
        )
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
