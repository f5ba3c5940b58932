"""The processes a benchmark runs: the Twilio stand-in and `jiaoying serve`, and what
/proc says about them (CPU seconds, resident memory and its peak).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from asyncio.subprocess import PIPE, STDOUT, Process, create_subprocess_exec
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import aiohttp

from tests.standins.base import free_socket
from tests.standins.twilio import DEFAULT_SID, DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parents[1]
# `python -m` from ROOT: the checkout this driver belongs to is the code that runs.
JIAOYING = [sys.executable, "-m", "dispatcher.cli"]
API_TOKEN = "bench-token-0123456789abcdef"
TWILIO_FROM = "+12025550100"
UNCAPPED_RATE = 100_000
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    sock = free_socket()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def memory_kib(pid: int) -> tuple[int, int]:
    """(resident now, peak resident) of process `pid`, in KiB (VmRSS, VmHWM)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


async def wait_http(url: str, process: Process, within: float = 60.0) -> None:
    """Return once GET `url` answers 200; raise if `process` exits or time runs out."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{url}: the process exited with {process.returncode}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {within:g} s")


async def stop(process: Process, grace: float = 60.0, how: int = signal.SIGTERM) -> int:
    """Signal `how` (SIGTERM), wait up to `grace`, then SIGKILL; the exit status."""
    if process.returncode is None:
        process.send_signal(how)
        try:
            return await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
    return await process.wait()


class StandIn:
    """The bench stand-in process (`bench.standin`) on a free port."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.account_sid = DEFAULT_SID
        self.auth_token = DEFAULT_TOKEN
        self._log_path = log
        self._log: IO[bytes] | None = None
        self.process: Process | None = None

    async def __aenter__(self) -> Self:
        self._log = self._log_path.open("ab")
        self.process = await create_subprocess_exec(
            *[sys.executable, "-m", "bench.standin", "--port", str(self.port)],
            stdout=self._log,
            stderr=STDOUT,
            cwd=ROOT,
        )
        await wait_http(f"{self.url}/bench/stats", self.process)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None:
            await stop(self.process, grace=5)
        if self._log is not None:
            self._log.close()


@dataclass
class ServiceConfig:
    """What one `jiaoying serve` runs with."""

    workdir: Path
    roster: Path
    policy: Path
    amqp_url: str | None = None
    send_window: int | None = None
    log_level: str = "INFO"
    profile: Path | None = None  # py-spy record into this file (speedscope JSON)
    db_url: str | None = None  # another store than the fresh SQLite file (PostgreSQL)
    name: str = "serve"  # the log's name: several replicas share a workdir
    env: dict[str, str] = field(default_factory=dict)  # more settings (another provider)


class Service:
    """`jiaoying serve` as a real process on a fresh SQLite store, Twilio at the stand-in."""

    def __init__(self, config: ServiceConfig, standin: StandIn) -> None:
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = config.workdir / "jiaoying.db"
        self.env = {
            **os.environ,
            "JIAOYING_DB_URL": config.db_url or f"sqlite+aiosqlite:///{self.db_path}",
            "JIAOYING_HTTP_PORT": str(self.port),
            "JIAOYING_PUBLIC_URL": self.url,
            "JIAOYING_ROSTER_DIR": str(config.roster),
            "JIAOYING_POLICY": str(config.policy),
            "JIAOYING_API_TOKENS": f"bench:{API_TOKEN}",
            "JIAOYING_TWILIO_ACCOUNT_SID": standin.account_sid,
            "JIAOYING_TWILIO_AUTH_TOKEN": standin.auth_token,
            "JIAOYING_TWILIO_FROM": TWILIO_FROM,
            "JIAOYING_TWILIO_API_BASE": standin.url,
            "JIAOYING_LOG_LEVEL": config.log_level,
            # The stand-in, like Twilio's REST API, bounds concurrency, not the rate; the
            # service's own cap (the operator's contract with the provider) must not bind.
            # WeChat runs in simulate mode: no provider, nothing to pace.
            "JIAOYING_SEND_RATES": f"sms={UNCAPPED_RATE},wechat={UNCAPPED_RATE}",
        }
        for name in ("JIAOYING_AMQP_URL", "JIAOYING_SEND_WINDOW"):
            self.env.pop(name, None)
        if config.amqp_url is not None:
            self.env["JIAOYING_AMQP_URL"] = config.amqp_url
        if config.send_window is not None:
            self.env["JIAOYING_SEND_WINDOW"] = str(config.send_window)
        self.env.update(config.env)
        self.process: Process | None = None
        self._profiler: Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the service is not running")
        return self.process.pid

    async def __aenter__(self) -> Self:
        self.config.workdir.mkdir(parents=True, exist_ok=True)
        upgrade = await create_subprocess_exec(
            *JIAOYING, "db", "upgrade", env=self.env, cwd=ROOT, stdout=PIPE, stderr=STDOUT
        )
        output, _ = await upgrade.communicate()
        if upgrade.returncode != 0:
            raise RuntimeError(f"jiaoying db upgrade failed: {output.decode()[-2000:]}")
        self._log = (self.config.workdir / f"{self.config.name}.log").open("ab")
        self.process = await create_subprocess_exec(
            *JIAOYING, "serve", env=self.env, stdout=self._log, stderr=STDOUT, cwd=ROOT
        )
        await wait_http(f"{self.url}/readyz", self.process)
        if self.config.profile is not None:
            self._profiler = await create_subprocess_exec(
                str(Path(sys.executable).with_name("py-spy")),
                *["record", "--pid", str(self.process.pid), "--format", "raw", "--rate", "200"],
                *["--output", str(self.config.profile), "--nonblocking"],
                stdout=self._log,
                stderr=STDOUT,
            )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._profiler is not None:
            # py-spy writes its file on SIGINT, as after Ctrl-C.
            await stop(self._profiler, grace=30, how=signal.SIGINT)
        if self.process is not None:
            await stop(self.process)
        if self._log is not None:
            self._log.close()

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def memory(self) -> tuple[int, int]:
        return memory_kib(self.pid)
