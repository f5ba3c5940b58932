"""Schema migrations on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from dispatcher.store import migrate
from dispatcher.store.db import open_database
from dispatcher.store.schema import metadata

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db"
    return str(request.getfixturevalue("pg_url"))


async def test_upgrade_builds_exactly_the_schema_the_code_uses(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with pytest.raises(migrate.SchemaMismatch, match="run `jiaoying db upgrade`"):
            await migrate.check(db)
        await migrate.upgrade(db)
        await migrate.check(db)
        assert await migrate.current(db) == migrate.head()

        def differences(connection: Connection) -> list[object]:
            return list(compare_metadata(MigrationContext.configure(connection), metadata))

        async with db.writer.connect() as conn:
            assert await conn.run_sync(differences) == []
        await migrate.upgrade(db)  # upgrading again changes nothing
        assert await migrate.current(db) == migrate.head()
    finally:
        await db.dispose()


def test_db_upgrade_keeps_a_copy_of_an_older_sqlite_store_and_db_current_agrees(
    tmp_path: Path,
) -> None:
    store = tmp_path / "jiaoying.db"
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("JIAOYING_")},
        "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{store}",
    }
    jiaoying = [sys.executable, "-m", "dispatcher.cli"]

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*jiaoying, *command], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
        )

    behind = run("db", "current")
    assert behind.returncode == 1
    assert f"schema: none (this jiaoying: {migrate.head()})" in behind.stdout

    async def older() -> None:
        db = open_database(env["JIAOYING_DB_URL"])
        try:
            await migrate.upgrade(db, "0001")
        finally:
            await db.dispose()

    asyncio.run(older())
    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"schema: 0001 → {migrate.head()}" in upgraded.stdout
    (backup,) = tmp_path.glob("jiaoying.db.rev0001-*.bak")
    assert f"the database as it was before: {backup}" in upgraded.stdout
    assert run("db", "current").returncode == 0
    again = run("db", "upgrade")
    assert again.returncode == 0
    assert list(tmp_path.glob("*.bak")) == [backup], "nothing to copy when nothing changes"
