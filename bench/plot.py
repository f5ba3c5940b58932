"""The fan-out plot: notices sent per second, and the share of persons who answered."""

from __future__ import annotations

import math
from pathlib import Path

# The Figure API, not pyplot: no display, no global state, works on a server or in CI.
from matplotlib.figure import Figure

from bench.fanout import FanoutResult


def plot_fanout(result: FanoutResult, path: Path) -> Path:
    """Write a PNG of `result` over time (seconds after the warning was posted)."""
    end = math.ceil(max([*result.sent_at, *result.answered_at, 1.0]))
    seconds = list(range(end + 1))
    sent = [0] * (end + 1)
    for at in result.sent_at:
        sent[max(0, int(at))] += 1
    answered_share = []
    done = 0
    answers = sorted(result.answered_at)
    for second in seconds:
        while done < len(answers) and answers[done] <= second:
            done += 1
        answered_share.append(100 * done / result.recipients)
    figure = Figure(figsize=(9, 4.5), dpi=110)
    left = figure.subplots()
    left.bar(seconds, sent, width=1.0, align="edge", color="#4878a8", label="SMS sent per second")
    left.set_xlabel("seconds after the warning was posted")
    left.set_ylabel("SMS sent per second", color="#4878a8")
    right = left.twinx()
    right.plot(seconds, answered_share, color="#c0392b", linewidth=2, label="answered (%)")
    right.set_ylabel("persons who answered (%)", color="#c0392b")
    right.set_ylim(0, 100)
    left.set_title(
        f"One red warning to {result.recipients:,} grid persons: "
        f"{result.per_second:,.0f} SMS/s ({result.ratio:.2f} of a bare client)"
    )
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles=handles, loc="center right")
    figure.tight_layout()
    figure.savefig(path)
    return path
