"""Simulate mode: a channel without credentials records what it would have sent.

It never claims to have reached anyone: its receipts say `simulated`, which the state
machine never counts as delivered, so escalation goes on exactly as if nobody answered.
"""

from __future__ import annotations

import itertools

import structlog

from channels.base import Notice, Receipt, Status

log = structlog.get_logger("jiaoying.channels.simulate")


class SimulatedChannel:
    """Logs each notice (address masked by the log pipeline) and returns a `sim-` id."""

    simulated = True

    def __init__(self, name: str) -> None:
        self.name = name
        self._ids = itertools.count(1)

    async def send(self, notice: Notice) -> Receipt:
        provider_id = f"sim-{self.name}-{next(self._ids)}"
        # `to` is masked by the log pipeline; a loudspeaker zone is no secret.
        where = {"zone": notice.address} if self.name == "broadcast" else {"to": notice.address}
        log.info(
            "simulated send: nothing was delivered",
            channel=self.name,
            kind=notice.kind,
            key=notice.key,
            chars=len(notice.text),
            simulated=True,
            **where,
        )
        return Receipt(provider_id=provider_id, status=Status.SIMULATED)
