"""The policy each stored warning was planned with, parsed once per warning and level.

A warning keeps the policy it was planned with (`warnings.policy`), whatever file is in
force since; the scheduler reads it for every step and the answer path for
`grid_answer`. Validating it costs more than the statements around it, so each
(warning, level) is parsed once, for the last `CACHED_WARNINGS` of them.
"""

from __future__ import annotations

from typing import Any

from dispatcher.core.model import Level
from dispatcher.core.policy import LevelPolicy, policy_from_data

__all__ = ["CACHED_WARNINGS", "level_policy"]

CACHED_WARNINGS = 1024
_parsed: dict[tuple[str, Level], LevelPolicy] = {}


def level_policy(warning_id: str, level: Level, stored: Any) -> LevelPolicy:
    """The policy for `level` of warning `warning_id`, whose stored policy is `stored`
    (the `warnings.policy` column); raises PolicyError for one that no longer validates."""
    key = (warning_id, level)
    found = _parsed.get(key)
    if found is None:
        found = policy_from_data(stored).for_level(level)
        if len(_parsed) >= CACHED_WARNINGS:
            # A service that runs for months sees every warning once: the oldest goes.
            del _parsed[next(iter(_parsed))]
        _parsed[key] = found
    return found
