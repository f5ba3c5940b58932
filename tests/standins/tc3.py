"""Tencent Cloud's TC3-HMAC-SHA256 request signature, checked as its API gateway checks it.

Written from the specification (cloud.tencent.com/document/api/382/52072, "签名方法 v3"),
not from the SDK:

    CanonicalRequest = Method \\n / \\n CanonicalQuery \\n CanonicalHeaders \\n
                       SignedHeaders \\n HexEncode(SHA256(payload))
    StringToSign     = "TC3-HMAC-SHA256" \\n Timestamp \\n Date/service/tc3_request \\n
                       HexEncode(SHA256(CanonicalRequest))
    SecretDate = HMAC("TC3" + SecretKey, Date); SecretService = HMAC(SecretDate, service)
    SecretSigning = HMAC(SecretService, "tc3_request")
    Signature = HexEncode(HMAC(SecretSigning, StringToSign))

`content-type` and `host` must be signed; the credential's date must be the timestamp's
(UTC) and the timestamp within 5 minutes of now.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["SignatureRefused", "verify_tc3"]

ALGORITHM = "TC3-HMAC-SHA256"
MAX_SKEW = 300


class SignatureRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify_tc3(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    service: str,
    secrets: Mapping[str, str],
    now: float | None = None,
) -> str:
    """The SecretId whose key signed the request; raises SignatureRefused."""
    lower = {name.lower(): value for name, value in headers.items()}
    scheme, _, fields = lower.get("authorization", "").partition(" ")
    if scheme != ALGORITHM:
        raise SignatureRefused("AuthFailure.SignatureFailure", "no TC3-HMAC-SHA256 Authorization")
    parts = dict(item.strip().partition("=")[::2] for item in fields.split(","))
    secret_id, date, scope_service, terminator = (
        parts.get("Credential", "").split("/") + [""] * 4
    )[:4]
    if secret_id not in secrets:
        raise SignatureRefused("AuthFailure.SecretIdNotFound", "The SecretId is not found")
    signed = parts.get("SignedHeaders", "")
    names = signed.split(";")
    if (
        not {"content-type", "host"} <= set(names)
        or scope_service != service
        or terminator != "tc3_request"
    ):
        raise SignatureRefused("AuthFailure.SignatureFailure", "the credential scope is wrong")
    try:
        stamp = int(lower.get("x-tc-timestamp", ""))
    except ValueError:
        raise SignatureRefused("AuthFailure.InvalidAuthorization", "X-TC-Timestamp") from None
    if abs((now or time.time()) - stamp) > MAX_SKEW:
        raise SignatureRefused("AuthFailure.SignatureExpire", "signature expired")
    if datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d") != date:
        raise SignatureRefused("AuthFailure.SignatureFailure", "the credential date is wrong")
    canonical_headers = "".join(f"{name}:{lower.get(name, '').strip().lower()}\n" for name in names)
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            query,
            canonical_headers,
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(("TC3" + secrets[secret_id]).encode(), date), service), "tc3_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        raise SignatureRefused(
            "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
        )
    return secret_id
