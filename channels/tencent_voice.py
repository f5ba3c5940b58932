"""Voice messages through Tencent Cloud (VMS SendTtsVoice, API 2020-09-02).

One call per notice: the approved TTS template with the person's values, read twice.
The call's result (`voiceprompt_callback`) and the keys pressed (`voicekey_callback`)
name its `callid`, the provider id; a key 1 on a notice that asks for an answer answers.

Tencent Cloud places no voice message between 22:00 and 08:00 (Beijing time) unless the
account had that lifted on request, and caps a callee at 1 call per 30 s, 2 per 10 min,
3 a day: a send into either is the permanent reason `capped`, refused here before the
request for the night, so the policy moves to its next channel at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import structlog
from tencentcloud.vms.v20200902 import models, vms_client

from channels.base import Notice, PermanentDeliveryError, Reason, Receipt
from channels.provider_templates import ProviderTemplate
from channels.tencent_api import SdkPool, credentials, failure_of, profile_for, refusing_status
from channels.tencent_wire import VARIABLE_LIMIT, tencent_number

__all__ = ["BEIJING", "TencentVoice", "in_quiet_hours"]

log = structlog.get_logger("jiaoying.channels.tencent_voice")

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
PLAY_TIMES = 2


def in_quiet_hours(now: datetime) -> bool:
    """True between 22:00 and 08:00 Beijing time, when Tencent Cloud places no call."""
    hour = now.astimezone(BEIJING).hour
    return hour >= 22 or hour < 8


class _Client(vms_client.VmsClient):  # type: ignore[misc]
    def _check_status(self, resp_inter: Any) -> None:
        refusing_status(resp_inter)


class TencentVoice:
    """The "voice" channel on Tencent Cloud."""

    name = "voice"
    simulated = False

    def __init__(
        self,
        *,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        region: str,
        app_id: str,
        templates: Mapping[str, ProviderTemplate],
        pool: SdkPool,
        night_calls: bool = False,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = _Client(
            credentials(secret_id, secret_key), region, profile_for(endpoint, timeout)
        )
        self._app_id = app_id
        self._templates = templates
        self._pool = pool
        self._night_calls = night_calls
        self._clock = clock

    async def send(self, notice: Notice) -> Receipt:
        template = self._templates.get(notice.kind)
        if template is None:
            raise PermanentDeliveryError(
                Reason.CLIENT_ERROR, f"no Tencent Cloud voice template for {notice.kind}"
            )
        if not self._night_calls and in_quiet_hours(self._clock()):
            raise PermanentDeliveryError(
                Reason.CAPPED, "Tencent Cloud places no voice message between 22:00 and 08:00"
            )
        request = models.SendTtsVoiceRequest()
        request.TemplateId = template.template_id
        request.CalledNumber = tencent_number(notice.address)
        request.VoiceSdkAppid = self._app_id
        request.TemplateParamSet = template.ordered(notice, VARIABLE_LIMIT)
        request.PlayTimes = PLAY_TIMES
        call: Callable[[], Any] = lambda: self._client.SendTtsVoice(request)  # noqa: E731
        try:
            response = await self._pool.run(call)
        except Exception as error:  # the SDK's exception types, and the transport's
            raise failure_of(error) from None
        call_id = response.SendStatus.CallId if response.SendStatus else None
        if not call_id:
            raise PermanentDeliveryError(Reason.SERVER_ERROR, "Tencent Cloud: no CallId")
        log.debug("call placed", key=notice.key, provider_id=call_id, channel=self.name)
        return Receipt(provider_id=str(call_id))
