"""`/healthz` (the process answers) and `/readyz` (its dependencies answer too).

A replica that cannot reach its store or broker reports not ready, so a load balancer
stops sending it work while it keeps running and recovers by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

Probe = Callable[[], Awaitable[None]]
PROBES = web.AppKey("probes", dict[str, Probe])
PROBE_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    checks = await run_probes(request.app[PROBES])
    ready = all(result == "ok" for result in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def run_probes(probes: dict[str, Probe]) -> dict[str, str]:
    """Each probe's verdict: "ok", or what went wrong (never a secret: only the error type)."""
    results: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            await asyncio.wait_for(probe(), PROBE_TIMEOUT)
            results[name] = "ok"
        except TimeoutError:
            results[name] = "timeout"
        except Exception as error:  # a probe reports any failure, it never raises
            results[name] = f"unavailable ({type(error).__name__})"
    return results
