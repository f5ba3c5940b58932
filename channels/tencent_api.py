"""What Tencent Cloud's SMS and voice-message APIs share: the client, its thread pool, and
its codes.

Tencent Cloud's Python SDK is synchronous (`requests`): every call runs on a small pool of
threads of its own, so a slow provider holds at most that many threads and never the
event loop. The SDK signs with TC3-HMAC-SHA256; its errors are a
`TencentCloudSDKException` with the API's `Error.Code`. An HTTP refusal before the API
(a gateway's 429 or 503) reaches the SDK's `_check_status` only, which keeps its body
and drops its headers: the clients here override it to keep the status and `Retry-After`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from channels.base import (
    DeliveryError,
    PermanentDeliveryError,
    Reason,
    TransientDeliveryError,
    UncertainDeliveryError,
    http_failure,
)
from channels.http_json import retry_after_seconds

__all__ = ["HttpRefusal", "SdkPool", "classify", "failure_of", "profile_for", "refusing_status"]

T = TypeVar("T")
OK = "Ok"

_PERMANENT: dict[str, Reason] = {
    "LimitExceeded.PhoneNumberDailyLimit": Reason.CAPPED,
    "LimitExceeded.PhoneNumberOneHourLimit": Reason.CAPPED,
    "LimitExceeded.PhoneNumberThirtySecondLimit": Reason.CAPPED,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": Reason.CAPPED,
    "LimitExceeded.DeliveryFrequencyLimit": Reason.CAPPED,  # VMS: the callee's cap
    "FailedOperation.PhoneNumberInBlacklist": Reason.UNSUBSCRIBED,
    "InvalidParameterValue.IncorrectPhoneNumber": Reason.INVALID_ADDRESS,
    "FailedOperation.PhoneNumberParseFail": Reason.INVALID_ADDRESS,
    "InvalidParameterValue.TemplateParameterFormatError": Reason.CLIENT_ERROR,
    "InvalidParameterValue.TemplateParameterLengthLimit": Reason.CLIENT_ERROR,
    "FailedOperation.TemplateIncorrectOrUnapproved": Reason.CLIENT_ERROR,
    "FailedOperation.SignatureIncorrectOrUnapproved": Reason.CLIENT_ERROR,
    "FailedOperation.InsufficientBalanceInSmsPackage": Reason.AUTH,
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": Reason.AUTH,
    "AuthFailure.SignatureFailure": Reason.AUTH,
    "AuthFailure.SecretIdNotFound": Reason.AUTH,
    "AuthFailure.SignatureExpire": Reason.AUTH,
    "AuthFailure.UnauthorizedOperation": Reason.AUTH,
}
_TRANSIENT: dict[str, Reason] = {
    "RequestLimitExceeded": Reason.RATE_LIMITED,
    "LimitExceeded.AppDailyLimit": Reason.RATE_LIMITED,
    "InternalError": Reason.SERVER_ERROR,
    "InternalError.Timeout": Reason.SERVER_ERROR,
    "InternalError.RequestTimeException": Reason.SERVER_ERROR,
    "ResourceUnavailable": Reason.SERVER_ERROR,
}


class HttpRefusal(TencentCloudSDKException):  # type: ignore[misc]
    """An HTTP answer other than 200 before the API: its status and `Retry-After` (an
    SDK exception, so that the SDK passes it on as it is)."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__("HttpRefusal", f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def refusing_status(response: Any) -> None:
    """The SDK clients' `_check_status`, keeping what the SDK's own would drop."""
    if response.status_code != 200:
        raise HttpRefusal(
            response.status_code, retry_after_seconds(response.headers.get("Retry-After"))
        )


def profile_for(endpoint_url: str, timeout: float) -> ClientProfile:
    """The SDK profile for `endpoint_url` (`https://sms.tencentcloudapi.com`, or a
    stand-in's `http://127.0.0.1:PORT`)."""
    parts = urlsplit(endpoint_url)
    http = HttpProfile(
        protocol=parts.scheme or "https", endpoint=parts.netloc, reqTimeout=max(1, round(timeout))
    )
    return ClientProfile(httpProfile=http)


def credentials(secret_id: str, secret_key: str) -> credential.Credential:
    return credential.Credential(secret_id, secret_key)


def classify(
    code: str | None, http_status: int = 200, retry_after: float | None = None
) -> DeliveryError:
    code = (code or "").strip()
    detail = f"Tencent Cloud {code or 'error'} (HTTP {http_status})"
    if code in _PERMANENT:
        return PermanentDeliveryError(_PERMANENT[code], detail)
    if code in _TRANSIENT:
        return TransientDeliveryError(_TRANSIENT[code], detail, retry_after)
    by_status = http_failure(http_status, detail, retry_after)
    if by_status is not None:
        return by_status
    return PermanentDeliveryError(Reason.CLIENT_ERROR, detail)


def failure_of(error: Exception) -> DeliveryError:
    """The failure an SDK exception means; never quotes its message (it may name the
    request's numbers)."""
    if isinstance(error, HttpRefusal):
        return classify(None, error.status, error.retry_after)
    if isinstance(error, TencentCloudSDKException):
        code = str(error.get_code() or "")
        if code == "ClientNetworkError":
            text = str(error.get_message() or "").lower()
            if "timed out" in text or "timeout" in text:
                # The request may have gone out: the SMS or the call may be on its way.
                return UncertainDeliveryError(
                    Reason.TIMEOUT, "Tencent Cloud did not answer in time"
                )
            return TransientDeliveryError(Reason.CONNECTION, "Tencent Cloud unreachable")
        return classify(code)
    return TransientDeliveryError(Reason.CONNECTION, f"Tencent Cloud: {type(error).__name__}")


class SdkPool:
    """A bounded pool of threads for the synchronous SDK: at most `threads` calls at once."""

    def __init__(self, threads: int = 16) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tencent-sdk")

    async def run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
