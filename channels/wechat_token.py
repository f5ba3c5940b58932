"""The Official Account's access token, fetched and refreshed in one place (中控).

WeChat hands out one `access_token` per account (`GET /cgi-bin/token`), valid for
`expires_in` seconds (7200). Fetching a new one invalidates the previous one after a
five-minute overlap, so every sender of the process must share one cache: N senders
refreshing on their own would invalidate each other's tokens. This cache

- refreshes ahead of expiry (when less than `margin` seconds remain), inside the overlap
  WeChat grants, so no send ever presents an expired token in normal operation;
- refreshes on demand when WeChat says the token is no longer good (40001, 40014,
  42001): `invalidate(token)` refreshes only if the failing token is still the current
  one, so many senders failing at once cause one fetch, not N;
- remembers a failed fetch for `cooldown` seconds, so a WeChat outage or a wrong
  AppSecret costs one request per cooldown instead of one per waiting sender.

A failed fetch raises the same typed errors as a send (see `channels.wechat_errcodes.classify`):
a wrong AppID or AppSecret is permanent (`auth`), a busy WeChat is transient. Neither
the AppSecret nor the token ever appears in an error or a log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from channels.base import DeliveryError, PermanentDeliveryError, Reason, TransientDeliveryError
from channels.http_json import DEFAULT_TIMEOUT
from channels.wechat_errcodes import classify

log = structlog.get_logger("jiaoying.channels.wechat")


class AccessTokens:
    """The shared access-token cache of one Official Account.

    `get()` returns a token good for at least a while; `invalidate(token)` after WeChat
    rejected `token` returns a fresh one. Both raise `TransientDeliveryError` or
    `PermanentDeliveryError` when no token can be had.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_base: str,
        appid: str,
        appsecret: str,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        margin: float = 300.0,
        cooldown: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._url = f"{api_base.rstrip('/')}/cgi-bin/token"
        self._appid = appid
        self._appsecret = appsecret
        self._timeout = timeout
        self._margin = margin
        self._cooldown = cooldown
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._expires_at = 0.0
        self._failure: tuple[float, DeliveryError] | None = None

    async def get(self) -> str:
        """A current token, fetched first if there is none or it is about to expire."""
        now = self._clock()
        if self._token is not None and now < self._refresh_at:
            return self._token
        # Due for a refresh but still valid: while another sender is already fetching,
        # keep using the old token rather than queueing behind the fetch.
        if self._token is not None and now < self._expires_at and self._lock.locked():
            return self._token
        async with self._lock:
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            return await self._fetch()

    async def invalidate(self, failed: str) -> str:
        """A token other than `failed`, which WeChat just refused (40001/40014/42001).

        Fetches only when `failed` is still the current token; a sender that failed
        with a token another sender has already replaced gets the replacement.
        """
        async with self._lock:
            if self._token is not None and self._token != failed:
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        now = self._clock()
        if self._failure is not None and now - self._failure[0] < self._cooldown:
            raise _again(self._failure[1])
        try:
            token, expires_in = await self._request()
        except DeliveryError as error:
            self._failure = (self._clock(), error)
            log.warning(
                "wechat access token refresh failed", reason=str(error.reason), detail=error.detail
            )
            raise
        now = self._clock()
        self._failure = None
        self._token = token
        self._expires_at = now + expires_in
        # A token shorter-lived than twice the margin (a gateway's, a test's) is
        # refreshed at half its life instead of at once on every call.
        self._refresh_at = self._expires_at - min(self._margin, expires_in / 2)
        log.info("wechat access token refreshed", expires_in=expires_in)
        return token

    async def _request(self) -> tuple[str, float]:
        params = {
            "grant_type": "client_credential",
            "appid": self._appid,
            "secret": self._appsecret,
        }
        try:
            async with self._session.get(self._url, params=params, timeout=self._timeout) as reply:
                status = reply.status
                body = await _json_or_none(reply)
        except TimeoutError:
            raise TransientDeliveryError(Reason.TIMEOUT, "access token request timed out") from None
        except aiohttp.ClientError as error:
            # str(error) may quote the request URL, which carries the AppSecret.
            raise TransientDeliveryError(
                Reason.CONNECTION, f"access token request failed: {type(error).__name__}"
            ) from None
        if status != 200 or not isinstance(body, dict):
            raise classify(status, None, errmsg="access token request failed")
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if isinstance(token, str) and token and isinstance(expires_in, int | float):
            return token, float(expires_in)
        errcode = body.get("errcode")
        # errmsg is WeChat's prose; it has no business quoting the AppSecret, but make sure.
        errmsg = str(body.get("errmsg", "")).replace(self._appsecret, "[redacted]")
        raise classify(200, errcode if isinstance(errcode, int) else None, errmsg=errmsg)


async def _json_or_none(reply: aiohttp.ClientResponse) -> Any:
    try:
        return await reply.json(content_type=None)
    except ValueError:
        return None


def _again(error: DeliveryError) -> DeliveryError:
    """A fresh copy of a remembered failure (raising one instance twice grows its traceback)."""
    if isinstance(error, TransientDeliveryError):
        return TransientDeliveryError(error.reason, error.detail, error.retry_after)
    return PermanentDeliveryError(error.reason, error.detail)
