"""Hand-written fakes of the Channel protocol: they record what they were given."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from channels.base import Notice, PermanentDeliveryError, Reason, Receipt, Status


class RecordingChannel:
    """Accepts every notice (or refuses the addresses in `reject`) and keeps them in order."""

    simulated = False

    def __init__(self, name: str, *, reject: frozenset[str] = frozenset()) -> None:
        self.name = name
        self.reject = set(reject)
        self.sent: list[Notice] = []
        self.delay = 0.0
        self.before_send: Callable[[Notice], None] | None = None
        self._ids = itertools.count(1)

    async def send(self, notice: Notice) -> Receipt:
        if self.before_send is not None:
            self.before_send(notice)
        if self.delay:
            await asyncio.sleep(self.delay)
        if notice.address in self.reject:
            raise PermanentDeliveryError(Reason.INVALID_ADDRESS, "refused by the fake")
        self.sent.append(notice)
        return Receipt(f"{self.name}-{next(self._ids)}", Status.ACCEPTED)
