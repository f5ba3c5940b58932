"""One JSON POST to a provider, and the `Retry-After` header read once for every adapter.

The broadcast platform and WeChat both take a JSON body and answer with JSON (or, from a
gateway in front of them, anything at all); Twilio's client reads `Retry-After` too. A
connection failure never quotes the request: its URL may carry an access token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from channels.base import Reason, TransientDeliveryError

__all__ = ["DEFAULT_TIMEOUT", "JsonReply", "post_json", "retry_after_seconds"]

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)


@dataclass(frozen=True, slots=True)
class JsonReply:
    """The provider's answer: HTTP status, the body as JSON (None when it is not JSON),
    and the seconds its `Retry-After` asks for."""

    status: int
    body: Any
    retry_after: float | None


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: Mapping[str, Any],
    *,
    provider: str,
    client_timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JsonReply:
    """POST `body` as JSON; any HTTP answer is returned for the adapter's `classify`.

    Raises `TransientDeliveryError` (`timeout`, `connection`) when no answer came, naming
    `provider` ("WeChat") and the error's type only.
    """
    try:
        async with session.post(
            url, params=params, json=body, headers=headers, timeout=client_timeout
        ) as reply:
            try:
                parsed = await reply.json(content_type=None)
            except ValueError:
                parsed = None
            return JsonReply(
                reply.status, parsed, retry_after_seconds(reply.headers.get("Retry-After"))
            )
    except TimeoutError:
        raise TransientDeliveryError(Reason.TIMEOUT, f"{provider} did not answer in time") from None
    except aiohttp.ClientError as error:
        # str(error) may quote the request URL, and with it the access token.
        raise TransientDeliveryError(
            Reason.CONNECTION, f"{provider} unreachable: {type(error).__name__}"
        ) from None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date; None if absent or
    unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
