"""The one small interface every channel adapter implements, and its typed failures.

An adapter knows how to deliver one notice to one address and what the provider said;
it knows nothing of warnings' storage or policy. Vendor codes are translated inside the
adapter (its pure `classify`) into the two failure types below, so the scheduler can
tell "try again" from "never again" without knowing any vendor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Reason(StrEnum):
    """Why a send failed, in words shared by every adapter (metrics label, API field)."""

    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    INVALID_ADDRESS = "invalid_address"
    UNSUBSCRIBED = "unsubscribed"
    UNREACHABLE = "unreachable"
    NO_ADDRESS = "no_address"
    # The provider's per-number cap (a day's SMS, a callee's calls an hour, a night
    # without calls): sending again into it fails the same way, so the policy moves on.
    CAPPED = "capped"


class DeliveryError(Exception):
    """Base of the two outcomes a send can fail with. `str()` never carries a secret."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else str(reason))


class TransientDeliveryError(DeliveryError):
    """Worth trying again; `retry_after` (seconds) when the provider said how long to wait."""

    def __init__(self, reason: Reason, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(reason, detail)
        self.retry_after = retry_after


class UncertainDeliveryError(TransientDeliveryError):
    """The request went out and no answer came back: the provider may have accepted it.

    Trying again could send the same SMS or place the same call twice, so the sender does
    not retry it; the policy's own next step (a re-call) is the retry.
    """


class PermanentDeliveryError(DeliveryError):
    """Never worth trying again on this channel for this address."""


def http_failure(
    http_status: int, detail: str, retry_after: float | None = None
) -> DeliveryError | None:
    """The failure an HTTP status decides by itself, the same for every provider: 429
    rate-limited, 5xx and 408 transient, 401/403 a permanent credentials problem. None for
    any other status: the adapter's own codes decide."""
    if http_status == 429:
        return TransientDeliveryError(Reason.RATE_LIMITED, detail, retry_after)
    if http_status >= 500:
        return TransientDeliveryError(Reason.SERVER_ERROR, detail, retry_after)
    if http_status == 408:
        return TransientDeliveryError(Reason.TIMEOUT, detail)
    if http_status in (401, 403):
        return PermanentDeliveryError(Reason.AUTH, detail)
    return None


class Status(StrEnum):
    """What a successful `send` knows at once."""

    ACCEPTED = "accepted"  # the provider took it; a delivery report may follow
    DELIVERED = "delivered"  # the provider confirmed delivery synchronously
    SIMULATED = "simulated"  # simulate mode: recorded, nothing sent, nobody reached


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one address.

    `key` is jiaoying's own id of this send (unique per attempt); adapters pass it to the
    provider where it has an idempotency or reference field and put it in the callback
    URLs they build under the public URL, so a report matches its send even before the
    provider's id is recorded. `valid_until`: never deliver after this (warning expiry).
    """

    key: str
    channel: str
    kind: str
    address: str
    text: str
    title: str = ""
    warning_id: str = ""
    level: str = ""
    drill: bool = False
    answer_url: str | None = None
    valid_until: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A send the provider accepted; `provider_id` matches later delivery reports."""

    provider_id: str
    status: Status = Status.ACCEPTED


@runtime_checkable
class Channel(Protocol):
    """Deliver a notice; raise TransientDeliveryError or PermanentDeliveryError on failure."""

    name: str
    simulated: bool

    async def send(self, notice: Notice) -> Receipt: ...


@runtime_checkable
class BatchChannel(Channel, Protocol):
    """A channel whose provider takes many notices in one request (Alibaba Cloud's
    SendBatchSms, Tencent Cloud's SendSms). `send_batch` answers one outcome per notice,
    in order: a Receipt, or the DeliveryError of that notice alone. A failure of the
    whole request (timeout, credentials) is raised, as from `send`."""

    max_batch: int

    async def send_batch(self, notices: Sequence[Notice]) -> list[Receipt | DeliveryError]: ...


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one send attempt, as the sender reports it to the result writer and
    the metrics: `status` is sent, delivered, simulated, failed or rejected."""

    attempt_id: int
    recipient_id: int | None
    channel: str
    status: str  # sent, delivered, simulated, failed, rejected
    provider_id: str | None = None
    reason: str | None = None
    detail: str | None = None
    seconds: float = 0.0
