"""Whether a policy's calls to one person fit the voice provider's per-callee cap.

Alibaba Cloud takes at most 1 call a minute, 5 an hour and 20 a day to one callee
(failed calls included); Tencent Cloud 1 per 30 s, 2 per 10 minutes and 3 a day, and none
between 22:00 and 08:00. A call over the cap is refused (`capped`) and the chain moves
on, so a redial step that the cap refuses is a step that never rings: `policy check`
names it. Pure: the caps are data, the policy is read, nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from dispatcher.core.durations import format_duration
from dispatcher.core.policy import Policy

__all__ = ["VOICE_CAPS", "voice_cap_breaches"]

Cap = tuple[timedelta, int, str]

VOICE_CAPS: dict[str, tuple[Cap, ...]] = {
    "aliyun": (
        (timedelta(minutes=1), 1, "1 call a minute"),
        (timedelta(hours=1), 5, "5 calls an hour"),
        (timedelta(days=1), 20, "20 calls a day"),
    ),
    "tencent": (
        (timedelta(seconds=30), 1, "1 call per 30 s"),
        (timedelta(minutes=10), 2, "2 calls per 10 minutes"),
        (timedelta(days=1), 3, "3 calls a day"),
    ),
}
_NAMES = {"aliyun": "Alibaba Cloud", "tencent": "Tencent Cloud"}


def voice_cap_breaches(policy: Policy, provider: str | None) -> list[str]:
    """One line per step whose call to the grid person the provider's cap would refuse
    (steps that escalate call the supervisor, another callee, and are not counted)."""
    caps = VOICE_CAPS.get(provider or "")
    if not caps:
        return []
    lines: list[str] = []
    for level, rules in policy.levels.items():
        calls = [step for step in rules.steps if "voice" in step.notify and not step.escalate]
        for position, step in enumerate(calls):
            for window, most, words in caps:
                earlier = [c for c in calls[:position] if step.after - c.after < window]
                if len(earlier) >= most:
                    lines.append(
                        f"{level.value}.steps[{step.index}]: the call at "
                        f"{format_duration(step.after)} breaks {_NAMES[provider or '']}'s cap of "
                        f"{words} per callee (after the one at "
                        f"{format_duration(earlier[0].after)}): it will be refused as capped"
                    )
                    break
    return lines
