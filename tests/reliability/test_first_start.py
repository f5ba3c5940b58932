"""A first deployment as a county makes it: `jiaoying serve` alone, as its own process.

- On SQLite (the embedded default) it needs no set-up step: on a path that does not exist
  yet it creates the schema and comes up ready; on an older release's database it copies
  the file beside itself, upgrades it and says so; a newer release's database is refused
  and left as it is. On PostgreSQL it refuses a schema it does not know and names
  `jiaoying db upgrade`.
- With any real provider configured it refuses the example roster that ships with it,
  however it is named (its workbook too), and names JIAOYING_ROSTER_DIR; in simulate
  mode the example roster stays the default and works.
- It runs on a county's roster kept as an Excel workbook, and reloads it on SIGHUP.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from dispatcher.core.cap import parse_cap
from dispatcher.core.restamp import restamp_cap, shift_to
from dispatcher.store import migrate
from dispatcher.store.db import open_database
from tests.integration.conftest import bounded
from tests.reliability.harness import (
    EXAMPLES,
    Api,
    Serve,
    prepare_store,
    serve_env,
    village,
    warning_json,
)
from tests.rosters import write_county
from tests.standins.twilio import DEFAULT_SID, DEFAULT_TOKEN
from tests.waiting import eventually

POLICY = """
red: {answer_within: 1h, steps: [{after: 0s, notify: [sms, voice]}]}
orange: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
"""
OLDER = "0002"  # the revision before the newest; its downgrade loses no warning
PERSONS = 20
REFUSED = 2  # `serve`'s exit status when it cannot start


def twilio_credentials() -> dict[str, str]:
    """Twilio configured (the stand-in's credentials, no stand-in running): `serve` must
    refuse before it would send anything."""
    return {
        "JIAOYING_TWILIO_ACCOUNT_SID": DEFAULT_SID,
        "JIAOYING_TWILIO_AUTH_TOKEN": DEFAULT_TOKEN,
        "JIAOYING_TWILIO_FROM": "+12025550100",
    }


def sqlite_file(serve: Serve) -> Path:
    return Path(serve.db_url.removeprefix("sqlite+aiosqlite:///"))


def revision_in(path: Path) -> str:
    """The schema revision a SQLite file is at, read with nothing but sqlite3."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (revision,) = connection.execute("select version_num from alembic_version").fetchone()
        return str(revision)
    finally:
        connection.close()


def dump(path: Path) -> list[str]:
    """The SQL that rebuilds the database: its content, whatever is checkpointed."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def warnings_in(path: Path) -> int:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (count,) = connection.execute("select count(*) from warnings").fetchone()
        return int(count)
    finally:
        connection.close()


async def downgrade(db_url: str, revision: str) -> None:
    """Take the database back to `revision`, as an older release left it."""
    db = open_database(db_url)

    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(migrate.MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    try:
        async with db.writer.begin() as conn:
            await conn.run_sync(run)
    finally:
        await db.dispose()


async def exits(serve: Serve, within: float = 60) -> tuple[int, str]:
    """Start `serve` and wait for it to end by itself: its status and its log."""
    serve.start()
    assert serve.process is not None
    status = await asyncio.to_thread(serve.process.wait, within)
    return status, serve.log.read_text(errors="replace")


def logged(serve: Serve, event: str) -> list[dict[str, Any]]:
    return [line for line in serve.log_lines() if line.get("event") == event]


async def takes_a_warning(api: Api, identifier: str) -> str:
    status, body = await api.post("/v1/warnings", warning_json(identifier, [village(0)]))
    assert status == 202, body
    warning_id: str = body["id"]
    summary = await api.warning(warning_id)
    assert summary["recipients"] == PERSONS
    return warning_id


@bounded(150)
async def test_serve_creates_its_sqlite_store_then_upgrades_an_older_one_keeping_a_copy(
    tmp_path: Path,
) -> None:
    county = write_county(tmp_path / "roster", PERSONS)
    store = tmp_path / "var" / "not" / "yet" / "jiaoying.db"
    assert not store.parent.parent.parent.exists()
    env = serve_env(
        tmp_path,
        roster=county.directory,
        policy=POLICY,
        db_url=f"sqlite+aiosqlite:///{store}",
    )
    serve = Serve(env, tmp_path / "serve.log")
    async with aiohttp.ClientSession() as http:
        api = Api(http, serve.url)
        serve.start()
        try:
            await serve.until_ready(http)
            (created,) = logged(serve, "database schema created")
            assert created["revision"] == migrate.head()
            first = await takes_a_warning(api, "first-start")
        finally:
            assert await serve.terminate() == 0
        assert revision_in(store) == migrate.head()

        await downgrade(serve.db_url, OLDER)
        assert revision_in(store) == OLDER
        serve.start()
        try:
            await serve.until_ready(http)
            (upgraded,) = logged(serve, "database schema upgraded")
            assert (upgraded["from_revision"], upgraded["to_revision"]) == (OLDER, migrate.head())
            backup = Path(upgraded["backup"])
            assert backup.parent == store.parent
            assert backup.name.startswith(f"jiaoying.db.rev{OLDER}-")
            assert backup.name.endswith(".bak")
            # The older release's warning is still there, and the service goes on.
            assert (await api.warning(first))["recipients"] == PERSONS
            await takes_a_warning(api, "after-upgrade")
        finally:
            assert await serve.terminate() == 0
    assert revision_in(store) == migrate.head()
    # The copy is the database as the older release left it, and opens as one.
    assert revision_in(backup) == OLDER
    assert warnings_in(backup) == 1
    assert sorted(path.name for path in store.parent.glob("*.bak")) == [backup.name]


@bounded(60)
async def test_serve_refuses_a_newer_release_s_sqlite_store_and_leaves_it_alone(
    tmp_path: Path,
) -> None:
    county = write_county(tmp_path / "roster", PERSONS)
    env = serve_env(tmp_path, roster=county.directory, policy=POLICY)
    serve = Serve(env, tmp_path / "serve.log")
    await prepare_store(serve.db_url)
    store = sqlite_file(serve)
    with sqlite3.connect(store) as connection:
        connection.execute("update alembic_version set version_num = '0099'")
    before = dump(store)

    status, log = await exits(serve)
    assert status == REFUSED, log
    (refused,) = logged(serve, "cannot start")
    assert "schema revision 0099, newer than this jiaoying" in refused["problem"]
    assert "never downgraded" in refused["problem"]
    assert revision_in(store) == "0099"
    assert dump(store) == before
    assert list(store.parent.glob("*.bak")) == []


@bounded(60)
async def test_serve_on_postgresql_refuses_a_schema_it_does_not_know(
    tmp_path: Path, pg_url: str
) -> None:
    county = write_county(tmp_path / "roster", PERSONS)
    env = serve_env(tmp_path, roster=county.directory, policy=POLICY, db_url=pg_url)
    serve = Serve(env, tmp_path / "serve.log")
    status, log = await exits(serve)
    assert status == REFUSED, log
    (refused,) = logged(serve, "cannot start")
    assert "has no jiaoying schema" in refused["problem"]
    assert "run `jiaoying db upgrade`" in refused["problem"]

    await prepare_store(pg_url)
    async with aiohttp.ClientSession() as http:
        serve.start()
        try:
            await serve.until_ready(http)
            await takes_a_warning(Api(http, serve.url), "after-db-upgrade")
        finally:
            assert await serve.terminate() == 0


@pytest.mark.parametrize(
    "roster",
    [
        "unset",
        "the examples folder",
        "a symlink to it",
        "a copy of it",
        "the example workbook",
        "a copy of the workbook",
    ],
)
@bounded(60)
async def test_serve_with_a_real_provider_refuses_the_example_roster(
    tmp_path: Path, roster: str
) -> None:
    env = serve_env(tmp_path, roster=EXAMPLES / "roster", policy=POLICY)
    env.update(twilio_credentials())
    if roster == "unset":
        del env["JIAOYING_ROSTER_DIR"]
    elif roster == "a symlink to it":
        (tmp_path / "county-roster").symlink_to(EXAMPLES / "roster")
        env["JIAOYING_ROSTER_DIR"] = str(tmp_path / "county-roster")
    elif roster == "a copy of it":
        shutil.copytree(EXAMPLES / "roster", tmp_path / "county-roster")
        env["JIAOYING_ROSTER_DIR"] = str(tmp_path / "county-roster")
    elif roster == "the example workbook":
        env["JIAOYING_ROSTER_DIR"] = str(EXAMPLES / "roster.xlsx")
    elif roster == "a copy of the workbook":
        shutil.copy(EXAMPLES / "roster.xlsx", tmp_path / "县网格名册.xlsx")
        env["JIAOYING_ROSTER_DIR"] = str(tmp_path / "县网格名册.xlsx")
    serve = Serve(env, tmp_path / "serve.log")

    status, log = await exits(serve)
    assert status == REFUSED, log
    (refused,) = logged(serve, "cannot start")
    problem = refused["problem"]
    assert problem.startswith("JIAOYING_ROSTER_DIR")
    assert "Set JIAOYING_ROSTER_DIR to your own roster" in problem
    assert "Twilio is configured" in problem
    assert ("a copy of the example roster" in problem) == roster.startswith("a copy")
    assert not logged(serve, "starting"), "nothing was started"
    assert not sqlite_file(serve).exists(), "not even the store"


@bounded(60)
async def test_serve_in_simulate_mode_runs_on_the_example_roster_by_default(
    tmp_path: Path,
) -> None:
    env = serve_env(tmp_path, roster=EXAMPLES / "roster", policy=POLICY)
    del env["JIAOYING_ROSTER_DIR"]
    serve = Serve(env, tmp_path / "serve.log")
    async with aiohttp.ClientSession() as http:
        serve.start()
        try:
            await serve.until_ready(http)
            (starting,) = logged(serve, "starting")
            assert Path(starting["roster"]) == EXAMPLES / "roster"
            cap = (EXAMPLES / "warnings" / "red-rainstorm.xml").read_bytes()
            cap = restamp_cap(cap, shift_to(parse_cap(cap).sent, datetime.now(UTC)))
            status, body = await Api(http, serve.url).post(
                "/v1/warnings", cap, "application/cap+xml"
            )
            assert status == 202, body
            assert body["recipients_added"] > 0
        finally:
            assert await serve.terminate() == 0


def make_workbook(directory: Path, target: Path) -> Path:
    """The county's CSV folder as the Excel workbook an office keeps (the shipped script)."""
    script = EXAMPLES / "make_roster_workbook.py"
    subprocess.run([sys.executable, script, directory, target], check=True, capture_output=True)
    return target


@bounded(90)
async def test_serve_runs_on_a_county_workbook_and_reloads_it_on_sighup(tmp_path: Path) -> None:
    county = write_county(tmp_path / "roster", PERSONS)
    workbook = make_workbook(county.directory, tmp_path / "县网格名册.xlsx")
    env = serve_env(tmp_path, roster=workbook, policy=POLICY)
    serve = Serve(env, tmp_path / "serve.log")
    async with aiohttp.ClientSession() as http:
        api = Api(http, serve.url)
        serve.start()
        try:
            await serve.until_ready(http)
            await takes_a_warning(api, "from-a-workbook")
            _, before = await api.get("/v1/roster")
            assert before["in_force"]["source"] == str(workbook)

            # A grid person's new number, typed into Excel as a number.
            book = openpyxl.load_workbook(workbook)
            book["persons"].cell(3, 3).value = 13512340001
            book.save(workbook)
            os.kill(serve.pid, signal.SIGHUP)

            async def reloaded() -> Any:
                _, view = await api.get("/v1/roster")
                return view if view["last_reload"] else None

            after = await eventually(reloaded, 10)
            assert after["last_reload"]["outcome"] == "loaded", after
            assert after["in_force"]["digest"] != before["in_force"]["digest"]
            await takes_a_warning(api, "after-a-workbook-reload")
        finally:
            assert await serve.terminate() == 0
