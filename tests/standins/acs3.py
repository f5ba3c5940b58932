"""Alibaba Cloud's ACS3-HMAC-SHA256 request signature, checked as the gateway checks it.

Written from the signature's specification (help.aliyun.com "V3 版本请求体&签名机制"),
not from the SDK, so that a stand-in accepting a request proves the SDK's signature is
the one Alibaba Cloud computes:

    CanonicalRequest = Method \\n URI \\n CanonicalQuery \\n CanonicalHeaders \\n
                       SignedHeaders \\n HexEncode(SHA256(body))
    StringToSign     = "ACS3-HMAC-SHA256" \\n HexEncode(SHA256(CanonicalRequest))
    Signature        = HexEncode(HMAC-SHA256(AccessKeySecret, StringToSign))

Query names and values are percent-encoded (RFC 3986, `~` kept, space as `%20`) and
sorted; headers are lower-cased, trimmed and sorted; `host`, every `x-acs-*` header and
(with a body) `content-type` must be signed; `x-acs-content-sha256` must be the body's digest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

__all__ = ["ALGORITHM", "SignatureRefused", "signature", "verify_acs3"]

ALGORITHM = "ACS3-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)


class SignatureRefused(Exception):
    """The request is not signed as Alibaba Cloud requires; `code` is the gateway's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _encode(text: str) -> str:
    return quote(text, safe="~")


def verify_acs3(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    now: datetime | None = None,
) -> str:
    """The AccessKey id whose secret signed this request; raises SignatureRefused."""
    lower = {name.lower(): value for name, value in headers.items()}
    scheme, _, fields = lower.get("authorization", "").partition(" ")
    if scheme != ALGORITHM:
        raise SignatureRefused("IncompleteSignature", "no ACS3-HMAC-SHA256 Authorization")
    parts = dict(item.strip().partition("=")[::2] for item in fields.split(","))
    key_id, signed, given = (
        parts.get("Credential", ""),
        parts.get("SignedHeaders", ""),
        parts.get("Signature", ""),
    )
    if key_id not in secrets:
        raise SignatureRefused("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    names = signed.split(";")
    required = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-content-sha256"}
    required |= {name for name in lower if name.startswith("x-acs-")}
    if body:
        # A request without a body (parameters all in the query) gets a Content-Type from
        # the HTTP client after signing; the gateway only requires it signed with a body.
        required.add("content-type")
    if not required <= set(names) or names != sorted(names):
        raise SignatureRefused("IncompleteSignature", "a required header is not signed")
    digest = hashlib.sha256(body).hexdigest()
    if lower.get("x-acs-content-sha256") != digest:
        raise SignatureRefused("IncompleteSignature", "x-acs-content-sha256 is not the body's")
    try:
        stamped = datetime.strptime(lower["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRefused("InvalidTimeStamp.Format", "x-acs-date is malformed") from None
    if abs((now or datetime.now(UTC)) - stamped) > MAX_SKEW:
        raise SignatureRefused("InvalidTimeStamp.Expired", "x-acs-date is out of range")
    expected = signature(method, path, query, lower, names, body, secrets[key_id])
    if not hmac.compare_digest(expected, given):
        raise SignatureRefused(
            "SignatureDoesNotMatch", "Specified signature does not match our calculation."
        )
    return key_id


def signature(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    names: list[str],
    body: bytes,
    secret: str,
) -> str:
    """The hex signature of a request over the (lower-case) header `names`."""
    lower = {name.lower(): value for name, value in headers.items()}
    canonical_query = "&".join(
        f"{_encode(name)}={_encode(value)}" for name, value in sorted(query.items())
    )
    canonical_headers = "".join(f"{name}:{lower.get(name, '').strip()}\n" for name in names)
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query,
            canonical_headers,
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
