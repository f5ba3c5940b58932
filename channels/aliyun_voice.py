"""Voice notification through Alibaba Cloud (Dyvmsapi 2017-05-25): key 1 answers.

With a purchased number (`ivr_number`), a notice that asks for an answer is an
`IvrCall`: the start prompt is the notice's approved TTS template with the person's
values, and the key map sends key 1 to the "已确认" prompt; the key pressed comes back
in the call's report (`dtmf`), which answers. Without one, or for a notice that asks
nothing (a cancel, an all-clear), the call is `SingleCallByTts`: a delivery, never an
answer. The call's id (`CallId`) is the provider id its reports name.

A callee takes at most 1 call a minute, 5 an hour, 20 a day (failed calls included):
the refusal (`isv.BUSINESS_LIMIT_CONTROL`) is the permanent reason `capped`, so the
policy moves on instead of calling into the cap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import structlog
from alibabacloud_dyvmsapi20170525 import models
from alibabacloud_dyvmsapi20170525.client import Client

from channels.aliyun_api import DEFAULT_TIMEOUT_MS, OK, classify, config_for, failure_of
from channels.aliyun_wire import (
    ANSWER_KEY,
    ANSWERABLE_KINDS,
    VARIABLE_LIMIT,
    aliyun_number,
    ivr_answer,
)
from channels.base import Notice, PermanentDeliveryError, Reason, Receipt
from channels.provider_templates import ProviderTemplate

__all__ = ["ANSWERABLE_KINDS", "PLAY_TIMES", "AliyunVoice", "ivr_answer"]

log = structlog.get_logger("jiaoying.channels.aliyun_voice")

PLAY_TIMES = 2
IVR_TIMEOUT_MS = 8_000


class AliyunVoice:
    """The "voice" channel on Alibaba Cloud: IvrCall where key 1 can answer, else a TTS
    call."""

    name = "voice"
    simulated = False

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        templates: Mapping[str, ProviderTemplate],
        ivr_number: str | None = None,
        thanks_code: str | None = None,
        show_number: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_MS / 1000,
    ) -> None:
        self._client = Client(config_for(endpoint, access_key_id, access_key_secret, timeout))
        self._templates = templates
        self._ivr_number = ivr_number
        self._thanks_code = thanks_code
        self._show_number = show_number

    def answerable(self, kind: str) -> bool:
        """Whether a call for a notice of `kind` collects key 1 (an IvrCall)."""
        return bool(self._ivr_number and self._thanks_code) and kind in ANSWERABLE_KINDS

    async def send(self, notice: Notice) -> Receipt:
        template = self._templates.get(notice.kind)
        if template is None:
            raise PermanentDeliveryError(
                Reason.CLIENT_ERROR, f"no Alibaba Cloud TTS template for {notice.kind}"
            )
        values = json.dumps(template.named(notice, VARIABLE_LIMIT), ensure_ascii=False)
        number = aliyun_number(notice.address)
        try:
            if self.answerable(notice.kind):
                ivr = await self._client.ivr_call_async(
                    models.IvrCallRequest(
                        called_show_number=self._ivr_number,
                        called_number=number,
                        start_code=template.template_id,
                        start_tts_params=values,
                        menu_key_map=[
                            models.IvrCallRequestMenuKeyMap(key=ANSWER_KEY, code=self._thanks_code)
                        ],
                        play_times=PLAY_TIMES,
                        timeout=IVR_TIMEOUT_MS,
                    )
                )
                body = ivr.body
                status = ivr.status_code
            else:
                tts = await self._client.single_call_by_tts_async(
                    models.SingleCallByTtsRequest(
                        called_show_number=self._show_number,
                        called_number=number,
                        tts_code=template.template_id,
                        tts_param=values,
                        play_times=PLAY_TIMES,
                    )
                )
                body = tts.body
                status = tts.status_code
        except Exception as error:  # the SDK's own exception types, and the transport's
            raise failure_of(error) from None
        if body is None or body.code != OK or not body.call_id:
            raise classify(body.code if body else None, status or 200)
        log.debug("call placed", key=notice.key, provider_id=body.call_id, channel=self.name)
        return Receipt(provider_id=str(body.call_id))
