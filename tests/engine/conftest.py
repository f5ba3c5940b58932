"""A running jiaoying (real SQLite store, real scheduler) with recording channels."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from channels.base import Channel
from channels.registry import CHANNEL_NAMES
from dispatcher.core.cap import parse_cap
from dispatcher.core.content_type import parse_warning
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp
from dispatcher.core.roster import Roster
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import load_settings
from dispatcher.service import ENGINE, build_app
from dispatcher.store.db import Database, open_database
from tests.fakes import RecordingChannel
from tests.waiting import eventually as eventually  # the tests import it from here too

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TOKEN = "ops-token-0123456789abcdef"
LINK_SECRET = "link-secret-for-tests-" + "x" * 16
PUBLIC_URL = "https://jiaoying.example.cn"
ALERT_SENT = parse_cap((EXAMPLES / "warnings/red-rainstorm.xml").read_bytes()).sent


def shift_to_now() -> timedelta:
    """How far the examples move in time so that the alert is sent now (whole seconds).
    Taken once per service: an Update or Cancel must be moved as far as its alert, or
    its `references` name an alert that never was."""
    return datetime.now(UTC).replace(microsecond=0) - ALERT_SENT


def app_of(client: TestClient[Any, Any]) -> web.Application:
    """The application the test client serves (the in-process service's)."""
    assert isinstance(client.server, TestServer)
    return client.server.app


@dataclass
class Jiaoying:
    client: TestClient[Any, Any]
    channels: dict[str, RecordingChannel]
    roster: Roster
    shift: timedelta

    def phone(self, person_id: str) -> str:
        """The person's number in the service's roster (E.164)."""
        phone = self.roster.persons[person_id].phone
        assert phone, f"{person_id} has no phone in the roster"
        return phone

    @property
    def db(self) -> Database:
        return app_of(self.client)[ENGINE].db

    async def post(self, example: str, *, expect: int = 202) -> dict[str, Any]:
        """Post an example warning, moved in time so that the red alert is sent now."""
        path = EXAMPLES / "warnings" / example
        content_type = "application/json" if path.suffix == ".json" else "application/cap+xml"
        data = warning_to_data(parse_warning(path.read_bytes(), content_type))
        response = await self.client.post(
            "/v1/warnings",
            data=json.dumps(restamp(data, self.shift)),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        body: dict[str, Any] = await response.json()
        assert response.status == expect, body
        return body

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.db.reader.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def answers_by_person(self) -> dict[str, list[tuple[str, str]]]:
        """person → [(via, by)] of every stored answer."""
        rows = await self.rows(
            "select r.person_id, a.via, a.by from answers a"
            " join recipients r on r.id = a.recipient_id order by a.id"
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for row in rows:
            found.setdefault(row.person_id, []).append((row.via, row.by))
        return found

    def sent(self, channel: str, kind: str | None = None) -> list[Any]:
        return [n for n in self.channels[channel].sent if kind is None or n.kind == kind]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh SQLite store with its schema, no service around it."""
    database = open_database(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    await database.create_schema()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The store the service runs on; test modules may override it (PostgreSQL)."""
    return f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db"


@pytest.fixture
def policy_file() -> Path:
    """The policy the service runs; test modules may override it (a slower clock)."""
    return ROOT / "tests/data/fast-policy.yaml"


@pytest.fixture
def extra_settings() -> dict[str, str]:
    """More `JIAOYING_*` settings for the service; test modules may override it."""
    return {}


@pytest.fixture
def providers() -> dict[str, Channel]:
    """Real adapters (pointed at a stand-in) that replace a recording channel; test
    modules may override it. The recorder of a replaced channel then records nothing."""
    return {}


@pytest.fixture
async def jiaoying(
    db_url: str, policy_file: Path, extra_settings: dict[str, str], providers: dict[str, Channel]
) -> AsyncIterator[Jiaoying]:
    settings = load_settings(
        {
            "JIAOYING_DB_URL": db_url,
            "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
            "JIAOYING_LINK_SECRET": LINK_SECRET,
            "JIAOYING_PUBLIC_URL": PUBLIC_URL,
            **extra_settings,
        }
    )
    roster = load_roster(EXAMPLES / "roster")
    policy = load_policy(policy_file)
    channels = {name: RecordingChannel(name) for name in CHANNEL_NAMES}

    def make_channels() -> dict[str, Channel]:
        return {**channels, **providers}

    app = build_app(settings, roster, policy, channels=make_channels)
    client = TestClient(TestServer(app))
    await client.start_server()
    shift = shift_to_now()
    try:
        yield Jiaoying(client, channels, roster, shift)
    finally:
        await client.close()
