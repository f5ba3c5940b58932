"""What every reliability case needs: a real `jiaoying serve` process and ways to watch it.

`Serve` starts the service as its own process (`python -m dispatcher.cli serve`, the
command operators run), waits for `/readyz`, kills it (SIGKILL) or stops it (SIGTERM),
and reads its CPU time and memory from `/proc`, so a case can measure what the process
really did rather than what an in-process test client would show. `Api` is the
operator's side: the bearer-token status API. `figures` prints one line per case with
what it measured, and appends it to `$JIAOYING_FIGURES` (JSON lines) when that is set:
RELIABILITY.md is filled from those lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aio_pika.abc import AbstractExchange
from sqlalchemy import text

from dispatcher.amqp.consumer import AMQP_TROUBLE
from dispatcher.store import migrate
from dispatcher.store.db import open_database
from tests.logscan import remember_env
from tests.standins.base import free_socket
from tests.standins.twilio import TwilioStandIn
from tests.waiting import eventually as eventually  # the tests import it from here too

# The broker gone, or the connection closed under the publisher.
_PUBLISH_TROUBLE: tuple[type[Exception], ...] = (*AMQP_TROUBLE, RuntimeError)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TOKEN = "reliability-token-0123456789abcdef"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    sock = free_socket()
    try:
        return int(sock.getsockname()[1])
    finally:
        sock.close()


def figures(case: str, **measured: Any) -> None:
    """Print what `case` measured, and append it to `$JIAOYING_FIGURES` when set."""
    line = {"case": case, "at": datetime.now(UTC).isoformat(timespec="seconds"), **measured}
    print(f"\nFIGURES {json.dumps(line, ensure_ascii=False)}")
    target = os.environ.get("JIAOYING_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as file:
            file.write(json.dumps(line, ensure_ascii=False) + "\n")


async def prepare_store(db_url: str) -> None:
    """Bring the store at `db_url` to the code's schema, as `jiaoying db upgrade` does."""
    db = open_database(db_url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


async def query(db_url: str, sql: str, **params: Any) -> list[Any]:
    """The rows of a read-only query, on a connection of its own."""
    db = open_database(db_url)
    try:
        async with db.reader.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Usage:
    """A process's CPU time (user + system) and memory at one moment."""

    cpu: float  # seconds
    rss: int  # bytes resident now
    peak_rss: int  # bytes, the most it was ever resident (VmHWM)


def usage(pid: int) -> Usage:
    """CPU time and memory of process `pid`, read from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    rss = int(status["VmRSS"].split()[0]) * 1024
    peak = int(status["VmHWM"].split()[0]) * 1024
    return Usage(cpu, rss, peak)


@dataclass
class Serve:
    """A `jiaoying serve` process on 127.0.0.1, its log in `log` (appended across restarts)."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['JIAOYING_HTTP_PORT']}"

    @property
    def db_url(self) -> str:
        return self.env["JIAOYING_DB_URL"]

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        remember_env(self.env)  # the suite's log scan looks for its secrets
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dispatcher.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.starts += 1

    async def until_ready(self, http: aiohttp.ClientSession, within: float = 30.0) -> None:
        """Wait for `/readyz` to answer 200; fail at once if the process exits."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, (
                f"jiaoying serve exited: {self.tail()}"
            )
            try:
                async with http.get(f"{self.url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"jiaoying serve was not ready within {within} s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the power goes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, within: float = 30.0) -> int:
        """SIGTERM and wait; the exit status (0 after a clean shutdown)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise

    async def terminate(self, within: float = 30.0) -> int:
        """`stop` without blocking the event loop: the stand-ins and relays of the test
        share it, and the service may need them to shut down."""
        return await asyncio.to_thread(self.stop, within)

    def usage(self) -> Usage:
        return usage(self.pid)

    def tail(self, lines: int = 15) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (anything else, a traceback, is skipped)."""
        parsed = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    parsed.append(json.loads(line))
                except ValueError:
                    continue
        return parsed


def serve_env(
    tmp_path: Path,
    *,
    roster: Path,
    policy: str,
    db_url: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a `jiaoying serve` on a free port with this roster and policy."""
    port = free_port()
    (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("JIAOYING_")}
    env.update(
        {
            "JIAOYING_DB_URL": db_url or f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
            "JIAOYING_HTTP_PORT": str(port),
            "JIAOYING_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "JIAOYING_ROSTER_DIR": str(roster),
            "JIAOYING_POLICY": str(tmp_path / "policy.yaml"),
            "JIAOYING_API_TOKENS": f"test:{TOKEN}",
            "JIAOYING_LOG_LEVEL": "INFO",
            "JIAOYING_SHUTDOWN_GRACE": "5",
            **(extra or {}),
        }
    )
    return env


@dataclass
class Api:
    """The operator's side of the service: requests with the bearer token."""

    http: aiohttp.ClientSession
    url: str
    headers: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"})

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.url + path, headers=self.headers) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def post(
        self, path: str, body: bytes | str, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        headers = {**self.headers, "Content-Type": content_type}
        async with self.http.post(self.url + path, data=body, headers=headers) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def warning(self, warning_id: str) -> dict[str, Any]:
        status, body = await self.get(f"/v1/warnings/{warning_id}")
        assert status == 200, body
        result: dict[str, Any] = body
        return result

    async def dead_letters(self) -> list[dict[str, Any]]:
        status, body = await self.get("/v1/dead-letters?limit=200")
        assert status == 200, body
        items: list[dict[str, Any]] = body["dead_letters"]
        return items

    async def ready(self) -> tuple[bool, dict[str, str]]:
        async with self.http.get(self.url + "/readyz") as response:
            body = await response.json()
            return response.status == 200, body.get("checks", {})


def village(number: int) -> str:
    """The 12-digit code of village `number` of tests.rosters' synthetic county."""
    town, index = divmod(number, 900)
    return f"441523{100 + town:03d}{100 + index:03d}"


def warning_json(
    identifier: str,
    geocodes: list[str],
    *,
    sent: datetime | None = None,
    msg_type: str = "Alert",
    references: list[dict[str, str]] | None = None,
    sender: str = "44152341600000",
) -> bytes:
    """A red rainstorm warning in the JSON form, for the villages `geocodes`, sent now."""
    moment = (sent or datetime.now(UTC)).replace(microsecond=0)
    body = {
        "identifier": identifier,
        "sender": sender,
        "sent": moment.isoformat(),
        "status": "Actual",
        "msg_type": msg_type,
        "scope": "Public",
        "references": references or [],
        "infos": [
            {
                "language": "zh-CN",
                "event": "暴雨红色预警",
                "categories": ["Met"],
                "urgency": "Immediate",
                "severity": "Extreme",
                "certainty": "Likely",
                "headline": "陆河县气象台发布暴雨红色预警信号",
                "description": "预计未来3小时将出现累计雨量超过100毫米的强降水。",
                "instruction": "请网格责任人立即叫应到户。收到请回复“1”。",
                "expires": (moment + timedelta(hours=6)).isoformat(),
                "areas": [{"description": "陆河县", "geocodes": geocodes}],
            }
        ],
    }
    return json.dumps(body, ensure_ascii=False).encode()


def twilio_env(standin: TwilioStandIn) -> dict[str, str]:
    """The settings that send SMS and calls through `standin`."""
    return {
        "JIAOYING_TWILIO_ACCOUNT_SID": standin.account_sid,
        "JIAOYING_TWILIO_AUTH_TOKEN": standin.auth_token,
        "JIAOYING_TWILIO_FROM": "+12025550100",
        "JIAOYING_TWILIO_API_BASE": standin.url,
    }


async def publish_confirmed(exchange: AbstractExchange, body: bytes, *, wait: float) -> int:
    """Publish one JSON warning until the broker confirms it, as a careful producer does
    (a broker restarting drops unconfirmed publishes), waiting up to `wait` seconds for
    each confirm; how many tries failed first."""
    failed = 0
    while True:
        try:
            await exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="json.441523",
                timeout=wait,
            )
            return failed
        except _PUBLISH_TROUBLE:
            failed += 1
            await asyncio.sleep(0.3)
