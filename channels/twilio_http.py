"""Twilio's REST plumbing shared by the SMS and voice adapters.

The official SDK builds and parses every request; this module makes its async HTTP
client fit for a warning service (twilio 9.13, see docs/notes on providers):

- Routed: with `api_base` set, every request goes to that scheme and host instead of
  `https://api.twilio.com` (a self-hosted gateway, or the test stand-in). The rewrite runs
  after the SDK picked its host, so `TWILIO_EDGE`/`TWILIO_REGION` cannot mangle it.
- Bounded: the SDK's async client ignores its own `timeout` (aiohttp then waits forever),
  so every request here carries an explicit one.
- Never retrying by itself: the SDK's `max_retries` retries POSTs on 5xx, which could
  send a warning SMS twice. jiaoying's sender owns the (single) retry loop.
- Throttling keeps its `Retry-After`: `TwilioRestException` drops response headers, so
  a 429 is turned into `TransientDeliveryError(RATE_LIMITED, retry_after=…)` right here,
  where the headers are still visible. Timeouts and connection errors become
  transient `TIMEOUT` / `CONNECTION` failures.

`classify(status, code)` translates every other refusal into jiaoying's typed failures;
`Report` is a provider callback in jiaoying's words, `callback_url` builds the callback
URLs (under the public URL, carrying the notice's key) that both adapters hand Twilio.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.base import (
    DeliveryError,
    PermanentDeliveryError,
    Reason,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from channels.formdata import form_urlencoded
from channels.http_json import retry_after_seconds

__all__ = [
    "DEFAULT_TIMEOUT",
    "Report",
    "RoutedTwilioHttpClient",
    "TwilioApi",
    "callback_url",
    "classify",
]

DEFAULT_TIMEOUT = 10.0
RATE_LIMITED_CODE = 20429

# Refusals that no retry can fix, by Twilio error code. Anything else in 4xx is a
# permanent CLIENT_ERROR too; 401/403 are AUTH (an operator must fix the credentials).
_PERMANENT: dict[int, Reason] = {
    21211: Reason.INVALID_ADDRESS,  # 'To' is not a valid phone number
    21217: Reason.INVALID_ADDRESS,  # (calls) 'To' is not a valid phone number
    21614: Reason.INVALID_ADDRESS,  # 'To' is not a mobile number / cannot take SMS
    13224: Reason.INVALID_ADDRESS,  # (calls) invalid phone number
    21610: Reason.UNSUBSCRIBED,  # the person replied STOP to this sender
    21612: Reason.UNREACHABLE,  # 'To' cannot be reached from this sender
    21408: Reason.CLIENT_ERROR,  # no permission to send to this region (geo permissions)
    21215: Reason.CLIENT_ERROR,  # (calls) no permission to call this region
    20003: Reason.AUTH,  # wrong AccountSid or AuthToken
}


@dataclass(frozen=True, slots=True)
class Report:
    """A provider report in jiaoying's words: `status` is one of sent, delivered, failed,
    rejected (see `Replies.delivery`); `reason` a `Reason` value where one applies."""

    status: str
    reason: str | None = None
    detail: str | None = None


def callback_url(public_url: str, path: str, key: str) -> str:
    """`public_url` + `path` with the notice's key as the `key` query parameter."""
    return f"{public_url.rstrip('/')}{path}?key={quote(key, safe='')}"


def classify(status: int, code: int | None) -> DeliveryError:
    """The failure a Twilio REST error response means: HTTP `status`, Twilio error `code`.

    The detail names only the status and code: Twilio's message quotes the number.
    """
    detail = f"Twilio error {code} (HTTP {status})" if code else f"Twilio HTTP {status}"
    if status == 429 or code == RATE_LIMITED_CODE:
        return TransientDeliveryError(Reason.RATE_LIMITED, detail)
    if status in (401, 403):
        return PermanentDeliveryError(Reason.AUTH, detail)
    if code in _PERMANENT:
        return PermanentDeliveryError(_PERMANENT[code], detail)
    if 400 <= status < 500:
        return PermanentDeliveryError(Reason.CLIENT_ERROR, detail)
    # 5xx, and anything stranger (a 3xx from a misconfigured gateway): try again later.
    return TransientDeliveryError(Reason.SERVER_ERROR, detail)


def _error_code(text: str) -> int | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


class RoutedTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's async HTTP client: routed to `api_base`, bounded by `timeout`, no retries.

    Construct it inside a running event loop (it opens an aiohttp session at once) and
    `await close()` it when done.
    """

    def __init__(self, api_base: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        # No max_retries, on purpose: its RetryClient retries POSTs (see module doc).
        super().__init__(timeout=timeout)
        self._base = urlsplit(api_base) if api_base else None

    def route(self, url: str) -> str:
        """`url` with its scheme and host replaced by `api_base`'s (path and query kept)."""
        if self._base is None:
            return url
        parts = urlsplit(url)
        return urlunsplit(
            (self._base.scheme, self._base.netloc, parts.path, parts.query, parts.fragment)
        )

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's own signature
        allow_redirects: bool = False,
    ) -> Response:
        seconds = timeout if timeout is not None else float(self.timeout)
        headers = dict(headers or {})
        if isinstance(data, dict) and "form-urlencoded" in headers.get("Content-Type", ""):
            # The form aiohttp would send, without its FormData machinery, which cost as
            # much per SMS as the rest of the request, and escaped faster (see formdata).
            data = form_urlencoded(data)
        if auth is not None:
            # The header itself rather than aiohttp's BasicAuth, deprecated in aiohttp 3.14
            # and gone in 4 (the SDK would break there, this does not).
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {credentials}"
        try:
            response: Response = await super().request(
                method,
                self.route(url),
                params=params,
                data=data,
                headers=headers,
                auth=None,
                timeout=seconds,
                allow_redirects=allow_redirects,
            )
        except aiohttp.ConnectionTimeoutError:  # never reached Twilio: safe to try again
            raise TransientDeliveryError(
                Reason.TIMEOUT, f"could not connect to Twilio within {seconds:g} s"
            ) from None
        except TimeoutError:  # aiohttp's read timeouts subclass it too
            # The POST went out; Twilio may have queued the SMS or the call already.
            raise UncertainDeliveryError(
                Reason.TIMEOUT, f"no answer from Twilio within {seconds:g} s"
            ) from None
        except aiohttp.ClientError as error:
            # The host and port are no secret, but the type says enough.
            raise TransientDeliveryError(
                Reason.CONNECTION, f"Twilio connection failed: {type(error).__name__}"
            ) from None
        if response.status_code == 429 or (
            response.status_code >= 400 and _error_code(response.text) == RATE_LIMITED_CODE
        ):
            headers_in = response.headers or {}
            raise TransientDeliveryError(
                Reason.RATE_LIMITED,
                f"Twilio throttled the request (HTTP {response.status_code})",
                retry_after=retry_after_seconds(headers_in.get("Retry-After")),
            )
        return response


class TwilioApi:
    """One Twilio REST client shared by the SMS and voice channels.

    The HTTP session cannot exist before the event loop runs, so the client is built on
    first use (`client()`, called from inside a coroutine); `close()` ends the session.
    The auth token is kept as given and never appears in a repr or an error.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.api_base = api_base
        self.timeout = timeout
        self._http: RoutedTwilioHttpClient | None = None
        self._client: Client | None = None

    def __repr__(self) -> str:
        return f"TwilioApi(account_sid={self.account_sid!r}, api_base={self.api_base!r})"

    def client(self) -> Client:
        """The SDK client; the first call (inside the running loop) opens the session."""
        if self._client is None:
            self._http = RoutedTwilioHttpClient(self.api_base, timeout=self.timeout)
            self._client = Client(self.account_sid, self._auth_token, http_client=self._http)
        return self._client

    async def close(self) -> None:
        """Close the HTTP session (if one was opened); a later send opens a new one."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()
