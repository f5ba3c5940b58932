"""A py-spy profile of the service, folded into the functions where its time goes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def summarize(raw: Path, top: int = 40) -> str:
    """The functions holding most samples in py-spy's `--format raw` output (folded
    stacks): inclusive (the function and what it called) and self (its own code)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return "no samples\n"
    lines = [f"{total} samples (200 Hz, every thread)", "", "inclusive:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"
