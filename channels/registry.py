"""The explicit registry: channel name → the adapter that serves it.

Hand-written on purpose: what can send is visible in one place. A provider whose
credentials are not configured runs in simulate mode (see channels.simulate): it records
what it would send and never claims to have reached anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from channels.base import Channel
from channels.broadcast import Broadcast
from channels.simulate import SimulatedChannel
from channels.twilio_http import TwilioApi
from channels.twilio_sms import TwilioSms
from channels.twilio_voice import TwilioVoice
from channels.wechat import WeChatTemplate
from channels.wechat_token import AccessTokens
from dispatcher.runtime.settings import Settings

CHANNEL_NAMES = ("voice", "sms", "wechat", "broadcast")


def simulated_channels() -> dict[str, Channel]:
    """Every channel in simulate mode: records what it would send, reaches nobody."""
    return {name: SimulatedChannel(name) for name in CHANNEL_NAMES}


@dataclass
class Providers:
    """The adapters for the configured providers, and what they hold open."""

    channels: dict[str, Channel]
    session: aiohttp.ClientSession
    twilio: TwilioApi | None = None
    simulated: list[str] = field(default_factory=list)

    async def close(self) -> None:
        if self.twilio is not None:
            await self.twilio.close()
        await self.session.close()


def build_providers(settings: Settings) -> Providers:
    """One adapter per channel name; call inside the running event loop (HTTP sessions)."""
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
            twilio, from_=settings.twilio_from, public_url=settings.public_url
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
        )
    if settings.broadcast_url and settings.broadcast_token:
        channels["broadcast"] = Broadcast(
            session,
            url=settings.broadcast_url,
            token=settings.broadcast_token.get_secret_value(),
            public_url=settings.public_url,
        )
    providers.simulated = [name for name, channel in channels.items() if channel.simulated]
    return providers
