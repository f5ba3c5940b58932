"""Small statistics over measured samples."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(samples: Sequence[float], rank: float) -> float:
    """The `rank`-th percentile (0–100) of `samples`, by linear interpolation."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * rank / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
