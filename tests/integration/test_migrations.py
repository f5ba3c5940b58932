"""Schema migrations on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

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


def test_serve_refuses_a_database_it_does_not_know_and_db_upgrade_fixes_it(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
        "JIAOYING_HTTP_PORT": "18097",
    }
    jiaoying = [sys.executable, "-m", "dispatcher.cli"]
    refused = subprocess.run(
        [*jiaoying, "serve"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert refused.returncode == 2
    assert "run `jiaoying db upgrade`" in refused.stdout + refused.stderr

    upgraded = subprocess.run(
        [*jiaoying, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"→ {migrate.head()}" in upgraded.stdout
    current = subprocess.run(
        [*jiaoying, "db", "current"], env=env, capture_output=True, text=True, timeout=60
    )
    assert current.returncode == 0
