"""A breaker per channel: a provider that has stopped answering is not waited on again.

Every send holds a place in the sender's window until its outcome is recorded, and the
scheduler claims a recipient's sends on all channels together, only when there is room.
A provider that takes every request and never answers makes each send on its channel
hold its place for the whole request timeout, on every try: the window fills with them,
and the other channels' sends to the next recipients wait. So after `threshold`
timeouts in a row on a channel, its breaker opens: for `cooldown` seconds that channel's
sends fail at once, with reason `timeout` and a detail saying they were not tried; then
one send at a time is let through to try the provider again, and its success closes the
breaker (a timeout opens it again).

Only timeouts count. A refusal or a lost connection comes back at once and is retried
within a bounded backoff; counting them would turn a provider's two-second hiccup into
failed notices. An answer that is not a timeout, success or not, shows that the provider
answers, and resets the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from channels.base import DeliveryError, Reason, TransientDeliveryError

__all__ = ["Breaker", "ChannelDown"]

log = structlog.get_logger("jiaoying.breaker")

THRESHOLD = 5
COOLDOWN = 10.0


class ChannelDown(TransientDeliveryError):
    """Not tried: the channel's provider stopped answering. Not retried by the sender (a
    try would wait out another timeout); the policy's next step is the retry."""


class Breaker:
    """The state of one channel's provider, as its recent sends found it."""

    def __init__(
        self,
        channel: str,
        *,
        threshold: int = THRESHOLD,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel = channel
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._timeouts = 0  # in a row
        self._opened_at: float | None = None
        self._trial = False  # a send is trying the provider while the breaker is open

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def check(self) -> None:
        """Raise ChannelDown if a send on this channel may not go to the provider now."""
        if self._opened_at is None:
            return
        if self._clock() - self._opened_at >= self._cooldown and not self._trial:
            return
        raise ChannelDown(
            Reason.TIMEOUT,
            f"not tried: {self.channel} timed out {self._timeouts} times in a row; "
            "its provider is tried again one send at a time",
        )

    def before_send(self) -> bool:
        """`check`, then whether this send is the one trying the provider again (pass
        that on to `answered`)."""
        self.check()
        if self._opened_at is None:
            return False
        self._trial = True
        return True

    def answered(self, error: DeliveryError | None, *, trial: bool) -> None:
        """Record a send's outcome: `error` None for success, else the failure it raised."""
        if trial:
            self._trial = False
        if error is not None and error.reason is Reason.TIMEOUT:
            self._timeouts += 1
            if trial or (self._opened_at is None and self._timeouts >= self._threshold):
                if self._opened_at is None:
                    log.warning(
                        "channel breaker opened", channel=self.channel, timeouts=self._timeouts
                    )
                self._opened_at = self._clock()
            return
        self._timeouts = 0
        if self._opened_at is not None:
            self._opened_at = None
            log.info("channel breaker closed", channel=self.channel)

    def abandoned(self, *, trial: bool) -> None:
        """A send ended without an outcome (cancelled, or its adapter crashed)."""
        if trial:
            self._trial = False
