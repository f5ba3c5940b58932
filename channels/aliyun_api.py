"""What Alibaba Cloud's SMS and voice APIs share: the client config, and its codes.

Both products (Dysmsapi, Dyvmsapi) run on `alibabacloud-tea-openapi`, which signs every
request with ACS3-HMAC-SHA256 and raises `ClientException` / `ServerException` /
`ThrottlingException` for an HTTP error, while a request refused for business reasons
(a per-number cap, an unknown number) comes back as HTTP 200 with a `Code` other than
`OK`. `classify` turns either into jiaoying's two failure types.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from alibabacloud_tea_openapi.utils_models import Config
from darabonba.exceptions import ResponseException
from Tea.exceptions import UnretryableException

from channels.base import (
    DeliveryError,
    PermanentDeliveryError,
    Reason,
    TransientDeliveryError,
    UncertainDeliveryError,
    http_failure,
)

__all__ = ["OK", "classify", "config_for", "failure_of"]

OK = "OK"
DEFAULT_TIMEOUT_MS = 10_000

# Codes of Dysmsapi and Dyvmsapi (error code pages 101346 and 112502): what a retry
# cannot fix …
_PERMANENT: dict[str, Reason] = {
    # Per-number flow control: minute, hour and day caps of SMS to one number, and a
    # callee's calls (1 a minute, 5 an hour, 20 a day).
    "isv.BUSINESS_LIMIT_CONTROL": Reason.CAPPED,
    "isv.DAY_LIMIT_CONTROL": Reason.CAPPED,
    "isv.MOBILE_NUMBER_ILLEGAL": Reason.INVALID_ADDRESS,
    "isv.MOBILE_COUNT_OVER_LIMIT": Reason.CLIENT_ERROR,
    "isv.BLACK_KEY_CONTROL_LIMIT": Reason.CLIENT_ERROR,
    "isv.SMS_CONTENT_ILLEGAL": Reason.CLIENT_ERROR,
    "isv.TEMPLATE_MISSING_PARAMETERS": Reason.CLIENT_ERROR,
    "isv.TEMPLATE_PARAMS_ILLEGAL": Reason.CLIENT_ERROR,
    "isv.PARAM_LENGTH_LIMIT": Reason.CLIENT_ERROR,
    "isv.INVALID_PARAMETERS": Reason.CLIENT_ERROR,
    "isv.INVALID_JSON_PARAM": Reason.CLIENT_ERROR,
    "isv.SMS_TEMPLATE_ILLEGAL": Reason.CLIENT_ERROR,
    "isv.SMS_SIGNATURE_ILLEGAL": Reason.CLIENT_ERROR,
    "isv.AMOUNT_NOT_ENOUGH": Reason.AUTH,
    "isv.OUT_OF_SERVICE": Reason.AUTH,
    "isv.ACCOUNT_ABNORMAL": Reason.AUTH,
    "isv.PRODUCT_UN_SUBSCRIPT": Reason.AUTH,
    "isv.DENY_IP_RANGE": Reason.AUTH,
    "InvalidAccessKeyId.NotFound": Reason.AUTH,
    "SignatureDoesNotMatch": Reason.AUTH,
    "IncompleteSignature": Reason.AUTH,
    "Forbidden.RAM": Reason.AUTH,
}
# … and what a later try may pass.
_TRANSIENT: dict[str, Reason] = {
    "Throttling.User": Reason.RATE_LIMITED,
    "Throttling.Api": Reason.RATE_LIMITED,
    "Throttling": Reason.RATE_LIMITED,
    "isp.SYSTEM_ERROR": Reason.SERVER_ERROR,
    "isv.SYSTEM_ERROR": Reason.SERVER_ERROR,
    "ServiceUnavailable": Reason.SERVER_ERROR,
    "InternalError": Reason.SERVER_ERROR,
}


def config_for(
    endpoint_url: str, access_key_id: str, access_key_secret: str, timeout: float
) -> Config:
    """The SDK's config for `endpoint_url` (`https://dysmsapi.aliyuncs.com`, or a
    stand-in's `http://127.0.0.1:PORT`): the SDK takes host and scheme apart."""
    parts = urlsplit(endpoint_url)
    return Config(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        endpoint=parts.netloc,
        protocol=parts.scheme or "https",
        read_timeout=int(timeout * 1000),
        connect_timeout=int(min(timeout, 5.0) * 1000),
    )


def classify(
    code: str | None, http_status: int = 200, retry_after: float | None = None
) -> DeliveryError:
    """The failure an Alibaba Cloud `Code` (and the HTTP status it came with) means."""
    code = (code or "").strip()
    detail = f"Alibaba Cloud {code or 'error'} (HTTP {http_status})"
    if code in _PERMANENT:
        return PermanentDeliveryError(_PERMANENT[code], detail)
    if code in _TRANSIENT or code.startswith("Throttling"):
        reason = _TRANSIENT.get(code, Reason.RATE_LIMITED)
        return TransientDeliveryError(reason, detail, retry_after)
    by_status = http_failure(http_status, detail, retry_after)
    if by_status is not None:
        return by_status
    # A code this table does not know, with a 200 or a 4xx: the request itself is wrong,
    # and sending it again would be wrong again.
    return PermanentDeliveryError(Reason.CLIENT_ERROR, detail)


def failure_of(error: Exception) -> DeliveryError:
    """The failure an SDK exception means; never quotes its message (it may carry the
    request and its numbers)."""
    if isinstance(error, ResponseException):
        retry_after = getattr(error, "retry_after", None)
        # The SDK reads `x-acs-retry-after` as milliseconds (UNVERIFIED against the
        # gateway's documentation; the SDK's own backoff treats it so).
        seconds = retry_after / 1000 if isinstance(retry_after, int | float) else None
        return classify(getattr(error, "code", None), error.status_code or 500, seconds)
    if isinstance(error, UnretryableException):
        inner = error.inner_exception
        # The SDK wraps the transport's error in a RetryError of its text; the original
        # is its context.
        cause = inner.__context__ if inner is not None and inner.__context__ else inner
        if isinstance(cause, TimeoutError):
            # The request may have gone out: the SMS or the call may be on its way.
            return UncertainDeliveryError(Reason.TIMEOUT, "Alibaba Cloud did not answer in time")
        return TransientDeliveryError(
            Reason.CONNECTION, f"Alibaba Cloud unreachable: {type(cause).__name__}"
        )
    return TransientDeliveryError(Reason.CONNECTION, f"Alibaba Cloud: {type(error).__name__}")
