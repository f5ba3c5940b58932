"""The explicit registry: channel name → the adapter that serves it.

Hand-written on purpose: what can send is visible in one place. A provider without
credentials runs in simulate mode (see channels.simulate).
"""

from __future__ import annotations

from channels.base import Channel
from channels.simulate import SimulatedChannel

CHANNEL_NAMES = ("voice", "sms", "wechat", "broadcast")


def simulated_channels() -> dict[str, Channel]:
    """Every channel in simulate mode: records what it would send, reaches nobody."""
    return {name: SimulatedChannel(name) for name in CHANNEL_NAMES}
