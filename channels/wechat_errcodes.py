"""What WeChat's answers mean: its `errcode`s, translated into jiaoying's typed failures.

Shared by the template sender (`channels.wechat`) and the access-token cache
(`channels.wechat_token`), which both talk to WeChat and both must tell "refresh the
token", "try again later" and "never again" apart.
"""

from __future__ import annotations

from channels.base import (
    DeliveryError,
    PermanentDeliveryError,
    Reason,
    TransientDeliveryError,
    http_failure,
)

__all__ = ["QUOTA_RETRY_AFTER", "TOKEN_ERRCODES", "classify"]

TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
"""The access token is invalid, not the latest, or expired: refresh it, try once more."""
QUOTA_RETRY_AFTER = 60.0
"""Seconds to wait after a quota error (45009 daily, 45011 per minute)."""

_TRANSIENT_ERRCODES: dict[int, tuple[Reason, float | None]] = {
    -1: (Reason.SERVER_ERROR, None),  # 系统繁忙
    45009: (Reason.RATE_LIMITED, QUOTA_RETRY_AFTER),  # daily API quota reached
    45011: (Reason.RATE_LIMITED, QUOTA_RETRY_AFTER),  # per-minute API quota reached
}
_PERMANENT_ERRCODES: dict[int, Reason] = {
    40003: Reason.INVALID_ADDRESS,  # not an openid of this account
    43004: Reason.UNSUBSCRIBED,  # the person does not follow the account
    43101: Reason.UNSUBSCRIBED,  # the person refused this account's messages
    40037: Reason.CLIENT_ERROR,  # no such template_id
    47003: Reason.CLIENT_ERROR,  # template data does not fit the template
    47001: Reason.CLIENT_ERROR,  # malformed JSON
    44002: Reason.CLIENT_ERROR,  # empty body
    40013: Reason.AUTH,  # invalid AppID
    40125: Reason.AUTH,  # invalid AppSecret
    40164: Reason.AUTH,  # this server's IP is not on the account's whitelist
    48001: Reason.AUTH,  # the account may not use this API
}


def classify(
    http_status: int,
    errcode: int | None,
    *,
    errmsg: str = "",
    retry_after: float | None = None,
) -> DeliveryError:
    """The typed failure for a WeChat answer that is not a success.

    `errcode` is the body's errcode (None when the body was not WeChat's JSON);
    `retry_after` the seconds of a `Retry-After` header, for a gateway's 429.
    A token errcode comes back transient (`auth`): `send` refreshes the token and
    retries once itself, so this only surfaces when the fresh token fails too.
    An errcode not listed describes the request, which would fail the same way again.
    """
    detail = f"HTTP {http_status}" if errcode is None else f"errcode {errcode}"
    if errmsg:
        detail = f"{detail}: {errmsg[:160]}"
    failure = http_failure(http_status, detail, retry_after)
    if failure is not None:
        return failure
    if http_status != 200:
        return PermanentDeliveryError(Reason.CLIENT_ERROR, detail)
    if errcode is None:
        return TransientDeliveryError(Reason.SERVER_ERROR, f"{detail} (not a WeChat reply)")
    if errcode == 0:
        return TransientDeliveryError(Reason.SERVER_ERROR, f"{detail} (ok, but no msgid)")
    if errcode in TOKEN_ERRCODES:
        return TransientDeliveryError(Reason.AUTH, f"{detail} (access token refused)")
    if errcode in _TRANSIENT_ERRCODES:
        reason, wait = _TRANSIENT_ERRCODES[errcode]
        return TransientDeliveryError(reason, detail, wait)
    return PermanentDeliveryError(_PERMANENT_ERRCODES.get(errcode, Reason.CLIENT_ERROR), detail)
