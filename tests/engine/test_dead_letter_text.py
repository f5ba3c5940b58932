"""Whatever a refused document says ends up in its dead letter, on SQLite and PostgreSQL:
a producer's field names with a NUL (which PostgreSQL's text cannot hold) are kept
escaped, and every problem is listed."""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import TOKEN, Jiaoying
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: SQLite and PostgreSQL

AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Field names as a fuzzer sends them: a NUL, a control character, a character beyond the BMP.
HOSTILE = (
    b'{"sender": "44152341600000", "sent": "2026-07-20T02:00:00+08:00", "id": "x",'
    b' "a\\u0000b": 1, "\\udabb\\udf5e": true, "\\u00db\\u007f": {}, "infos": []}'
)


async def test_a_refusal_keeps_every_problem_in_text_the_store_can_hold(
    jiaoying: Jiaoying,
) -> None:
    response = await jiaoying.client.post(
        "/v1/warnings", data=HOSTILE, headers={**AUTH, "Content-Type": "application/json"}
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 422, body
    assert len(body["problems"]) == 3
    assert all("unknown field" in problem["reason"] for problem in body["problems"])
    assert body["problems"][0]["path"] == '["a\\u0000b"]', "an odd field name is quoted"
    listed = await jiaoying.client.get("/v1/dead-letters", headers=AUTH)
    letter = (await listed.json())["dead_letters"][0]
    assert letter["id"] == body["dead_letter_id"]
    assert letter["reason"].startswith("3 problems:")
    assert "\x00" not in letter["reason"] + letter["path"]
