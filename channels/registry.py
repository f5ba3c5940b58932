"""The channel names, the simulate-mode default for each, and what the configured
adapters hold open.

Which adapter serves which name is decided from the settings by the composition root
(`dispatcher.providers`), by hand on purpose: what can send is visible in one place. A
provider whose credentials are not configured runs in simulate mode (see
channels.simulate): it records what it would send and never claims to have reached anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from channels.base import Channel
from channels.simulate import SimulatedChannel
from channels.twilio_http import TwilioApi

if TYPE_CHECKING:  # the Tencent SDK is loaded only where Tencent is the provider
    from channels.tencent_api import SdkPool

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
    tencent_pool: SdkPool | None = None  # the threads Tencent Cloud's synchronous SDK runs on
    simulated: list[str] = field(default_factory=list)

    async def close(self) -> None:
        if self.twilio is not None:
            await self.twilio.close()
        if self.tencent_pool is not None:
            self.tencent_pool.close()
        await self.session.close()
