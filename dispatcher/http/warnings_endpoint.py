"""`POST /v1/warnings`: the same ingest path as AMQP, for producers that speak HTTP.

202 with the warning's id for a new warning or a follow-up, 200 for a duplicate, 4xx with
the reason for bad input — every problem found, each with its path — and the dead letter
that keeps it, 503 while the store is down.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.engine.ingest import MAX_BODY, Ingested, Ingestor, IngestOutcome, Rejected
from dispatcher.http.auth import require_token
from dispatcher.http.problems import problem

INGESTOR = web.AppKey("ingestor", Ingestor)


@require_token
async def post_warning(request: web.Request) -> web.Response:
    body = await _read_body(request)
    content_type = request.headers.get("Content-Type", "")
    try:
        ingested = await request.app[INGESTOR].ingest(body, content_type, "http")
    except Rejected as rejected:
        status = _status(rejected, len(body))
        return problem(
            status,
            rejected.error.reason,
            path=rejected.error.path,
            problems=[
                {"path": found.path, "reason": found.reason} for found in rejected.error.problems
            ],
            dead_letter_id=rejected.dead_letter_id,
        )
    except (SQLAlchemyError, OSError):
        return problem(503, "the store is unavailable; try again shortly")
    return web.json_response(
        _answer(ingested), status=200 if ingested.outcome is IngestOutcome.DUPLICATE else 202
    )


def _status(rejected: Rejected, size: int) -> int:
    if size > MAX_BODY:
        return 413
    if rejected.error.path == "content_type":
        return 415
    return 422 if rejected.error.path else 400  # no path: the body is not XML/JSON at all


async def _read_body(request: web.Request) -> bytes:
    """At most MAX_BODY + 1 bytes: enough to know a body is too big, without holding 10 MB."""
    chunks, size = [], 0
    while size <= MAX_BODY:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _answer(ingested: Ingested) -> dict[str, object]:
    return {
        "id": ingested.warning_id,
        "outcome": ingested.outcome.value,
        "msg_type": ingested.msg_type.value,
        "recipients_added": ingested.recipients_added,
    }
