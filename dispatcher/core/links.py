"""Answer links: short, HMAC-signed, expiring tokens for the 收到 page.

A token names one send target — a recipient (warning × person) or a summons (warning ×
supervisor) — and an expiry, signed with JIAOYING_LINK_SECRET. It is short because it
travels in an SMS, where every character costs (UCS-2: 70 per segment): 23 bytes,
31 characters in base64url.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Target = Literal["r", "s"]  # r: recipient row; s: summons row
_LAYOUT = struct.Struct(">cQI")  # target, row id, expiry in minutes since the epoch
_MAC_BYTES = 10  # 80 bits: forging one needs ~2**79 tries against a rate-limited page
_TOKEN_CHARS = -(-(_LAYOUT.size + _MAC_BYTES) * 4 // 3)  # unpadded base64


class BadLink(Exception):
    """The token is malformed, forged, or expired; `reason` is safe to show."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


@dataclass(frozen=True, slots=True)
class LinkTarget:
    kind: Target
    id: int
    expires: datetime


class AnswerLinks:
    def __init__(self, secret: bytes, public_url: str) -> None:
        if len(secret) < 32:
            raise ValueError("the link secret must be at least 32 bytes")
        self._secret = secret
        self._base = public_url.rstrip("/")

    def token(self, kind: Target, row_id: int, expires: datetime) -> str:
        minutes = int(expires.timestamp() // 60) + 1
        payload = _LAYOUT.pack(kind.encode(), row_id, minutes)
        return _b64(payload + self._mac(payload))

    def url(self, kind: Target, row_id: int, expires: datetime) -> str:
        return f"{self._base}/a/{self.token(kind, row_id, expires)}"

    def verify(self, token: str, now: datetime) -> LinkTarget:
        """The target a genuine, unexpired token names; raises BadLink otherwise."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise BadLink("这个链接不完整或已损坏") from None
        if len(raw) != _LAYOUT.size + _MAC_BYTES:
            raise BadLink("这个链接不完整或已损坏")
        if _b64(raw) != token:
            # The last character of unpadded base64 carries spare bits that decoding
            # drops, so several spellings decode to the same bytes. Only the spelling
            # we gave out is accepted: an altered link must never still answer.
            raise BadLink("这个链接无效")
        payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise BadLink("这个链接无效")
        kind, row_id, minutes = _LAYOUT.unpack(payload)
        expires = datetime.fromtimestamp(minutes * 60, UTC)
        if kind not in (b"r", b"s"):
            raise BadLink("这个链接无效")
        if now >= expires:
            raise BadLink("这个链接已过期", expired=True)
        return LinkTarget("r" if kind == b"r" else "s", row_id, expires)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def url_length(public_url: str) -> int:
    """How many characters an answer link under `public_url` has (its token: 31)."""
    return len(public_url.rstrip("/")) + len("/a/") + _TOKEN_CHARS


def link_expiry(expires: datetime | None, now: datetime) -> datetime:
    """A link outlives its warning by a day (a late 收到 is still recorded, as 迟应);
    without an expiry, two days."""
    return (expires or now + timedelta(days=1)) + timedelta(days=1)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
