"""SMS through Alibaba Cloud (Dysmsapi 2017-05-25), a hundred persons a request.

`SendBatchSms` carries up to 100 numbers, each with its own template values (the
person's name, the answer link's token), all on one pre-approved template: a county's
fan-out of a few tens of thousands is a few hundred requests. The answer is one `BizId`
for the request; each person's delivery receipt (`SmsReport`) names that `BizId` and
the number, so a send's provider id is the `BizId` with a digest of the number (never
the number itself: provider ids are logged).

A request refused for one number (its daily cap, an invalid number) refuses all of
them: the batch is then sent again one person per request, so that only that person's
send fails, with the reason that is hers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence

import structlog
from alibabacloud_dysmsapi20170525 import models
from alibabacloud_dysmsapi20170525.client import Client

from channels.aliyun_api import DEFAULT_TIMEOUT_MS, OK, classify, config_for, failure_of
from channels.aliyun_wire import VARIABLE_LIMIT, aliyun_number, sms_provider_id
from channels.base import DeliveryError, Notice, PermanentDeliveryError, Reason, Receipt
from channels.provider_templates import ProviderTemplate

__all__ = ["MAX_BATCH", "VARIABLE_LIMIT", "AliyunSms", "aliyun_number", "sms_provider_id"]

log = structlog.get_logger("jiaoying.channels.aliyun_sms")

MAX_BATCH = 100
# Refusals that concern one number of the batch, not the request.
_PER_NUMBER = frozenset({Reason.CAPPED, Reason.INVALID_ADDRESS})

Outcome = Receipt | DeliveryError


class AliyunSms:
    """The "sms" channel on Alibaba Cloud: batches of up to 100 through SendBatchSms."""

    name = "sms"
    simulated = False
    max_batch = MAX_BATCH

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: Mapping[str, ProviderTemplate],
        timeout: float = DEFAULT_TIMEOUT_MS / 1000,
    ) -> None:
        self._client = Client(config_for(endpoint, access_key_id, access_key_secret, timeout))
        self._sign_name = sign_name
        self._templates = templates

    async def send(self, notice: Notice) -> Receipt:
        (outcome,) = await self.send_batch([notice])
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    async def send_batch(self, notices: Sequence[Notice]) -> list[Outcome]:
        """One outcome per notice, in order. Notices of different kinds (templates) go in
        separate requests, sent together."""
        outcomes: list[Outcome | None] = [None] * len(notices)
        groups: dict[str, list[int]] = {}
        for index, notice in enumerate(notices):
            if notice.kind not in self._templates:
                outcomes[index] = PermanentDeliveryError(
                    Reason.CLIENT_ERROR, f"no Alibaba Cloud SMS template for {notice.kind}"
                )
            else:
                groups.setdefault(notice.kind, []).append(index)
        requests = [
            chunk for indexes in groups.values() for chunk in _distinct_numbers(notices, indexes)
        ]
        results = await asyncio.gather(
            *(self._send_group([notices[index] for index in chunk]) for chunk in requests),
            return_exceptions=True,
        )
        failure: BaseException | None = None
        for chunk, result in zip(requests, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            for index, outcome in zip(chunk, result, strict=True):
                outcomes[index] = outcome
        if failure is not None:
            # The whole call failed (timeout, credentials): as `send` would.
            raise failure
        return [outcome for outcome in outcomes if outcome is not None]

    async def _send_group(self, notices: Sequence[Notice]) -> list[Outcome]:
        try:
            return await self._request(notices)
        except DeliveryError as error:
            if len(notices) == 1 or error.reason not in _PER_NUMBER:
                raise
        # One number spoilt the batch: each alone, so the others go out.
        singles = await asyncio.gather(*(self._single(notice) for notice in notices))
        return list(singles)

    async def _single(self, notice: Notice) -> Outcome:
        try:
            (outcome,) = await self._request([notice])
        except PermanentDeliveryError as error:
            return error
        return outcome

    async def _request(self, notices: Sequence[Notice]) -> list[Outcome]:
        template = self._templates[notices[0].kind]
        numbers = [aliyun_number(notice.address) for notice in notices]
        request = models.SendBatchSmsRequest(
            phone_number_json=json.dumps(numbers),
            sign_name_json=json.dumps([self._sign_name] * len(notices), ensure_ascii=False),
            template_code=template.template_id,
            template_param_json=json.dumps(
                [template.named(notice, VARIABLE_LIMIT) for notice in notices],
                ensure_ascii=False,
            ),
        )
        try:
            response = await self._client.send_batch_sms_async(request)
        except Exception as error:  # the SDK's own exception types, and the transport's
            raise failure_of(error) from None
        body = response.body
        if body is None or body.code != OK or not body.biz_id:
            raise classify(body.code if body else None, response.status_code or 200)
        log.debug(
            "sms batch accepted",
            provider_id=body.biz_id,
            persons=len(notices),
            template=template.template_id,
        )
        return [Receipt(sms_provider_id(body.biz_id, number)) for number in numbers]


def _distinct_numbers(notices: Sequence[Notice], indexes: list[int]) -> list[list[int]]:
    """`indexes` in requests of at most MAX_BATCH, no number twice in one request (its
    receipt could not tell the two apart)."""
    chunks: list[tuple[list[int], set[str]]] = []
    for index in indexes:
        number = aliyun_number(notices[index].address)
        for chunk, seen in chunks:
            if len(chunk) < MAX_BATCH and number not in seen:
                chunk.append(index)
                seen.add(number)
                break
        else:
            chunks.append(([index], {number}))
    return [chunk for chunk, _ in chunks]
