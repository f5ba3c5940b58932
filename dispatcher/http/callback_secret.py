"""The check every unsigned provider push passes: the secret in its URL path and, when
configured, its source network.

Alibaba Cloud and Tencent Cloud sign none of their pushes; the URL given to their
console carries a per-deployment secret (`JIAOYING_CALLBACK_SECRETS`: the first is
current, the others still accepted while a rotation reaches every console), compared in
constant time, and `JIAOYING_CALLBACK_NETWORKS` may restrict where a push comes from.
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from aiohttp import web

from dispatcher.http.auth import SETTINGS

__all__ = ["NotYetKnown", "callback_allowed"]


class NotYetKnown(Exception):
    """A receipt push named `count` sends jiaoying does not know (yet): the provider is
    asked to push it again, as it does for any answer but success."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} unknown send(s)")
        self.count = count


def callback_allowed(request: web.Request) -> int | None:
    """None when the path's secret and the source address pass; else the status to
    answer (404 for a wrong secret, as for no route; 403 for another network)."""
    settings = request.app[SETTINGS]
    given = request.match_info.get("secret", "").encode()
    matches = [
        hmac.compare_digest(secret.get_secret_value().encode(), given)
        for secret in settings.callback_secrets
    ]
    if not any(matches):
        return 404
    if settings.callback_networks:
        try:
            source = ip_address(request.remote or "")
        except ValueError:
            return 403
        if not any(source in network for network in settings.callback_networks):
            return 403
    return None
