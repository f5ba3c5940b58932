"""A fresh PostgreSQL database on the machine's server, for one test, dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest
from yarl import URL

PG_ADMIN_URL = os.environ.get(
    "JIAOYING_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@contextlib.asynccontextmanager
async def fresh_database(
    admin_url: str = PG_ADMIN_URL, *, unreachable: Callable[[str], NoReturn] = pytest.fail
) -> AsyncIterator[str]:
    """The SQLAlchemy URL of a new, empty database on the server of `admin_url`, dropped
    afterwards. When the server cannot be reached, `unreachable` gets the reason with how
    to start PostgreSQL: a test fails by it (never skips); the benchmark raises."""
    admin = URL(admin_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        conn = await asyncpg.connect(str(admin), timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        unreachable(
            f"PostgreSQL is not reachable at {admin.host}:{admin.port} ({error}). Start it with"
            " `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
        )
    name = f"jiaoying_test_{secrets.token_hex(4)}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(URL(admin_url).with_path(f"/{name}"))
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest.fixture(name="db_url", params=["sqlite", "postgresql"])
async def each_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Run the importing test module on SQLite (one county) and on PostgreSQL (replicas)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db"
        return
    async with fresh_database() as url:
        yield url
