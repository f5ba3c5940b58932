"""SMS through Twilio's Messages API, and what Twilio's delivery reports mean.

A send is `Messages.create` with a status callback under jiaoying's public URL that
carries the notice's key, and a short `ValidityPeriod`: Twilio queues what it cannot
send at once (one segment per second on a long code), and a warning delivered hours
late is worse than none, so an SMS that cannot go out before the warning ends (at most
ten minutes) is dropped by Twilio rather than delivered stale.

`classify` (re-exported from `channels.twilio_http`) translates REST refusals;
`sms_report` translates a status callback into jiaoying's delivery statuses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from channels.base import Notice, Reason, Receipt, Status
from channels.twilio_http import Report, TwilioApi, callback_url, classify

__all__ = [
    "STATUS_PATH",
    "Report",
    "TwilioSms",
    "callback_url",
    "classify",
    "sms_report",
    "validity_period",
]

log = structlog.get_logger("jiaoying.channels.twilio_sms")

STATUS_PATH = "/callbacks/twilio/status"
VALIDITY_MIN = 60
VALIDITY_MAX = 600


# Delivery failures that no later attempt on this channel will fix ("rejected": the
# recipient's chain moves on at once) …
_REJECTED: dict[int, Reason] = {
    30004: Reason.UNSUBSCRIBED,  # message blocked (the person blocked the sender)
    30005: Reason.INVALID_ADDRESS,  # unknown destination handset (number not in service)
    30006: Reason.UNREACHABLE,  # landline or unreachable carrier: only voice can reach it
    30007: Reason.CLIENT_ERROR,  # filtered by the carrier as spam: the same text fails again
    30008: Reason.UNREACHABLE,  # unknown error at the carrier; no retry has been seen to help
    21610: Reason.UNSUBSCRIBED,  # the person replied STOP
    21211: Reason.INVALID_ADDRESS,
    21614: Reason.INVALID_ADDRESS,
    21612: Reason.UNREACHABLE,
    21408: Reason.CLIENT_ERROR,
}
# … and those that a later attempt may overcome ("failed": the policy's next step acts).
_FAILED: dict[int, Reason] = {
    30003: Reason.UNREACHABLE,  # handset off or out of coverage: try again later
    30001: Reason.RATE_LIMITED,  # Twilio's queue overflowed
    30002: Reason.AUTH,  # account suspended
}
_SENT = frozenset({"queued", "sending", "sent", "accepted", "scheduled"})
_DELIVERED = frozenset({"delivered", "read"})
_FAILURES = frozenset({"undelivered", "failed", "canceled"})


def sms_report(message_status: str, error_code: str | int | None) -> Report | None:
    """What a Messages status callback (`MessageStatus`, `ErrorCode`) means; None for a
    status that says nothing about delivery (receiving, received …)."""
    status = message_status.strip().lower()
    if status in _SENT:
        return Report("sent")
    if status in _DELIVERED:
        return Report("delivered")
    if status not in _FAILURES:
        return None
    code = _code(error_code)
    detail = f"Twilio {status}, error {code}" if code else f"Twilio {status}"
    if code in _REJECTED:
        return Report("rejected", str(_REJECTED[code]), detail)
    return Report("failed", str(_FAILED.get(code or 0, Reason.UNREACHABLE)), detail)


def _code(value: str | int | None) -> int | None:
    if value is None:
        return None
    try:
        code = int(str(value).strip())
    except ValueError:
        return None
    return code or None


def validity_period(valid_until: datetime | None, now: datetime) -> int:
    """Seconds Twilio may keep the SMS queued: until `valid_until`, within 60..600 s."""
    if valid_until is None:
        return VALIDITY_MAX
    seconds = math.ceil((valid_until - now).total_seconds())
    return max(VALIDITY_MIN, min(VALIDITY_MAX, seconds))


class TwilioSms:
    """The "sms" channel: one Twilio message per notice, tracked by its status callback."""

    name = "sms"
    simulated = False

    def __init__(
        self,
        api: TwilioApi,
        *,
        from_: str,
        public_url: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._from = from_
        self._public_url = public_url
        self._clock = clock

    async def send(self, notice: Notice) -> Receipt:
        client = self._api.client()
        try:
            message = await client.messages.create_async(
                to=notice.address,
                from_=self._from,
                body=notice.text,
                status_callback=callback_url(self._public_url, STATUS_PATH, notice.key),
                validity_period=validity_period(notice.valid_until, self._clock()),
            )
        except (TwilioRestException, TwilioServiceException) as error:
            # Twilio's message quotes the number: only status and code travel on.
            raise classify(error.status, error.code) from None
        # DEBUG: one line per SMS of a 50,000-person fan-out costs more CPU than the send's
        # own HTTP request, and the attempt row already keeps the provider's id.
        log.debug("sms accepted", key=notice.key, provider_id=message.sid, channel=self.name)
        return Receipt(provider_id=str(message.sid), status=Status.ACCEPTED)
