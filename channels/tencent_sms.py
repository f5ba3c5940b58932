"""SMS through Tencent Cloud (SendSms, API 2021-01-11), up to 200 numbers a request.

One `SendSms` carries one template and one list of values for all its numbers: notices
whose values are the same (a cancel, an all-clear, any template without the person's
name or link) share a request, up to 200; a template that names the person is one
request per person. Each number's outcome comes back in `SendStatusSet` with its
`SerialNo`, which the status callback names as `sid`: that is the provider id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from tencentcloud.sms.v20210111 import models, sms_client

from channels.base import DeliveryError, Notice, PermanentDeliveryError, Reason, Receipt
from channels.provider_templates import ProviderTemplate
from channels.tencent_api import (
    OK,
    SdkPool,
    classify,
    credentials,
    failure_of,
    profile_for,
    refusing_status,
)
from channels.tencent_wire import VARIABLE_LIMIT, tencent_number

__all__ = ["MAX_BATCH", "TencentSms", "tencent_number"]

log = structlog.get_logger("jiaoying.channels.tencent_sms")

MAX_BATCH = 200

Outcome = Receipt | DeliveryError


class _Client(sms_client.SmsClient):  # type: ignore[misc]
    def _check_status(self, resp_inter: Any) -> None:
        refusing_status(resp_inter)


class TencentSms:
    """The "sms" channel on Tencent Cloud."""

    name = "sms"
    simulated = False
    max_batch = MAX_BATCH

    def __init__(
        self,
        *,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        region: str,
        app_id: str,
        sign_name: str,
        templates: Mapping[str, ProviderTemplate],
        pool: SdkPool,
        timeout: float = 10.0,
    ) -> None:
        self._client = _Client(
            credentials(secret_id, secret_key), region, profile_for(endpoint, timeout)
        )
        self._app_id = app_id
        self._sign_name = sign_name
        self._templates = templates
        self._pool = pool

    async def send(self, notice: Notice) -> Receipt:
        (outcome,) = await self.send_batch([notice])
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    async def send_batch(self, notices: Sequence[Notice]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(notices)
        groups: dict[tuple[str, tuple[str, ...]], list[list[int]]] = {}
        for index, notice in enumerate(notices):
            template = self._templates.get(notice.kind)
            if template is None:
                outcomes[index] = PermanentDeliveryError(
                    Reason.CLIENT_ERROR, f"no Tencent Cloud SMS template for {notice.kind}"
                )
                continue
            values = tuple(template.ordered(notice, VARIABLE_LIMIT))
            chunks = groups.setdefault((notice.kind, values), [[]])
            number = tencent_number(notice.address)
            chunk = chunks[-1]
            if len(chunk) >= MAX_BATCH or any(
                tencent_number(notices[i].address) == number for i in chunk
            ):
                chunk = []
                chunks.append(chunk)
            chunk.append(index)
        requests = [
            (kind, values, chunk) for (kind, values), chunks in groups.items() for chunk in chunks
        ]
        results = await asyncio.gather(
            *(
                self._request(kind, list(values), [notices[i] for i in chunk])
                for kind, values, chunk in requests
            ),
            return_exceptions=True,
        )
        failure: BaseException | None = None
        for (_, _, chunk), result in zip(requests, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            for index, outcome in zip(chunk, result, strict=True):
                outcomes[index] = outcome
        if failure is not None:
            raise failure
        return [outcome for outcome in outcomes if outcome is not None]

    async def _request(
        self, kind: str, values: list[str], notices: Sequence[Notice]
    ) -> list[Outcome]:
        request = models.SendSmsRequest()
        numbers = [tencent_number(notice.address) for notice in notices]
        request.PhoneNumberSet = numbers
        request.SmsSdkAppId = self._app_id
        request.SignName = self._sign_name
        request.TemplateId = self._templates[kind].template_id
        request.TemplateParamSet = values
        call: Callable[[], Any] = lambda: self._client.SendSms(request)  # noqa: E731
        try:
            response = await self._pool.run(call)
        except Exception as error:  # the SDK's exception types, and the transport's
            raise failure_of(error) from None
        by_number = {status.PhoneNumber: status for status in response.SendStatusSet or []}
        outcomes: list[Outcome] = []
        for number in numbers:
            status = by_number.get(number)
            if status is None:
                outcomes.append(
                    PermanentDeliveryError(Reason.SERVER_ERROR, "Tencent Cloud: no status")
                )
            elif status.Code == OK and status.SerialNo:
                outcomes.append(Receipt(str(status.SerialNo)))
            else:
                outcomes.append(classify(status.Code))
        log.debug("sms batch sent", persons=len(numbers), template=request.TemplateId)
        return outcomes
