"""The drill clock: the policy's times compressed, `pace` drill seconds per real second.

The service's scheduler, its answer paths and the simulated people all read the same
clock: its origin is a wall-clock instant, so a second process can keep the same time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class DrillClock:
    start: datetime  # the drill time at `origin`
    pace: float
    origin: float = field(default_factory=time.time)  # wall-clock seconds (time.time)

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.origin) * self.pace)

    def elapsed(self) -> timedelta:
        """Drill time since the start."""
        return self() - self.start

    def real_seconds(self, drill: timedelta) -> float:
        """How long `drill` of drill time lasts in real seconds."""
        return max(0.0, drill.total_seconds() / self.pace)
