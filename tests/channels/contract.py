"""The contract every channel adapter passes, against its provider's local stand-in.

A test module for an adapter subclasses `ChannelContract` and provides three fixtures:

- `standin`: the running stand-in server (a `StandIn`), speaking the provider's wire
  protocol, with one-shot controls for the next request's response;
- `channel`: the adapter under test, configured to call the stand-in, with its
  credentials in `standin.secrets`;
- `notice`: a `Notice` the adapter can send (right address kind for its channel).

and the class attributes `REJECTED` / `RATE_LIMITED` / `SERVER_ERROR`: provider
responses (status, body, headers) that must classify as permanent, rate-limited with a
Retry-After of 7 s, and transient. Each adapter adds its own `classify` table test.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any, ClassVar, Protocol

import pytest

from channels.base import (
    Channel,
    Notice,
    PermanentDeliveryError,
    Reason,
    Status,
    TransientDeliveryError,
)
from dispatcher.runtime.logs import configure_logging

Response = tuple[int, Any, dict[str, str]]


class StandIn(Protocol):
    secrets: list[str]
    requests: list[Any]

    def respond_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer the next provider request with this response instead of success."""

    def stall_next(self, seconds: float) -> None:
        """Hold the next provider request this long before answering it."""


class ChannelContract:
    REJECTED: ClassVar[Response]
    RATE_LIMITED: ClassVar[Response]
    SERVER_ERROR: ClassVar[Response]

    async def test_an_accepted_send_returns_the_providers_id(
        self, channel: Channel, standin: StandIn, notice: Notice
    ) -> None:
        receipt = await channel.send(notice)
        assert receipt.provider_id
        assert receipt.status in (Status.ACCEPTED, Status.DELIVERED)
        assert standin.requests, "the stand-in saw the request"
        assert channel.simulated is False

    async def test_a_refused_address_is_permanent(
        self, channel: Channel, standin: StandIn, notice: Notice
    ) -> None:
        standin.respond_next(*self.REJECTED)
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(notice)
        assert caught.value.reason in tuple(Reason)

    async def test_rate_limiting_is_transient_and_says_how_long_to_wait(
        self, channel: Channel, standin: StandIn, notice: Notice
    ) -> None:
        standin.respond_next(*self.RATE_LIMITED)
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(notice)
        assert caught.value.reason is Reason.RATE_LIMITED
        assert caught.value.retry_after == pytest.approx(7.0)

    async def test_a_server_error_is_transient(
        self, channel: Channel, standin: StandIn, notice: Notice
    ) -> None:
        standin.respond_next(*self.SERVER_ERROR)
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(notice)
        assert caught.value.reason in (Reason.SERVER_ERROR, Reason.CONNECTION)

    async def test_a_stalled_provider_times_out_as_transient(
        self, channel: Channel, standin: StandIn, notice: Notice
    ) -> None:
        standin.stall_next(30.0)
        async with asyncio.timeout(15):
            with pytest.raises(TransientDeliveryError) as caught:
                await channel.send(notice)
        assert caught.value.reason is Reason.TIMEOUT

    async def test_no_secret_or_full_number_in_errors_or_logs(
        self, channel: Channel, standin: StandIn, notice: Notice
    ) -> None:
        output = io.StringIO()
        configure_logging("DEBUG", stream=output)
        try:
            errors: list[str] = []
            for response in (self.REJECTED, self.SERVER_ERROR):
                standin.respond_next(*response)
                try:
                    await channel.send(notice)
                except (PermanentDeliveryError, TransientDeliveryError) as error:
                    errors.append(f"{error} {error.detail!r} {error!r}")
            await channel.send(notice)
        finally:
            logging.getLogger().handlers.clear()
        text = output.getvalue() + "\n".join(errors)
        for secret in standin.secrets:
            assert secret not in text
        if notice.address.startswith("+"):
            national = notice.address.removeprefix("+86")
            assert national not in text, "a full phone number reached an error or a log"
        for line in output.getvalue().splitlines():
            json.loads(line)  # every log line is JSON
