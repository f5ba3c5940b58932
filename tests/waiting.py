"""Waiting for something to become true, for tests and the benchmark."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Any],
    within: float = 5.0,
    what: str | Callable[[], str] = "",
    *,
    every: float = 0.05,
) -> Any:
    """Wait until `check()` (sync or async) returns something truthy, and return it; fail
    with AssertionError after `within` s, saying `what` (or a callable saying it then)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"not within {within} s: {said or check}")
        await asyncio.sleep(every)
