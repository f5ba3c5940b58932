"""Outbound voice calls through Twilio's Calls API, and what Twilio's call reports mean.

A call fetches its TwiML from jiaoying (`/callbacks/twilio/voice?key=…`: the notice read
in Mandarin, then "press 1"), reports its progress to `/callbacks/twilio/call-status`, and
runs answering-machine detection asynchronously (`DetectMessageEnd`): the text starts at
once for a person, and the verdict arrives at `/callbacks/twilio/amd`. A machine is never
an answer and never counts as reaching the person, whatever keys it seems to press.
"""

from __future__ import annotations

import structlog
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.twiml.voice_response import Gather, VoiceResponse

from channels.base import Notice, Reason, Receipt, Status
from channels.twilio_http import Report, TwilioApi, callback_url, classify

__all__ = [
    "AMD_PATH",
    "CALL_STATUS_PATH",
    "GATHER_PATH",
    "RING_SECONDS",
    "VOICE_PATH",
    "TwilioVoice",
    "amd_report",
    "call_report",
    "call_twiml",
    "ending_twiml",
    "is_machine",
    "replay_twiml",
]

log = structlog.get_logger("jiaoying.channels.twilio_voice")

VOICE_PATH = "/callbacks/twilio/voice"
GATHER_PATH = "/callbacks/twilio/gather"
CALL_STATUS_PATH = "/callbacks/twilio/call-status"
AMD_PATH = "/callbacks/twilio/amd"
RING_SECONDS = 30
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
VOICEMAIL = "voicemail"

LANGUAGE = "cmn-CN"
# Twilio needs a voice that speaks the language: Amazon Polly's Mandarin (cmn-CN) voice.
TTS_VOICE = "Polly.Zhiyu"
GATHER_SECONDS = 8
# Notices that ask for an answer; a cancel or all-clear is only read out.
ANSWERABLE_KINDS = frozenset({"alert", "update", "escalation", "door_knock"})
PROMPT = "确认收到请按1。"
THANKS = "已确认收到，谢谢，再见。"
NO_ANSWER = "未收到按键确认，再见。"
UNKNOWN = "本次通知已失效，再见。"

_SENT = frozenset({"queued", "initiated", "ringing", "in-progress"})
# Not reached this time; the policy's re-call step is what acts on them.
_NOT_REACHED = {
    "busy": "busy",
    "no-answer": "no answer",
    "failed": "call failed",
    "canceled": "call canceled",
}


def is_machine(answered_by: str | None) -> bool:
    """True for an `AnsweredBy` of an answering machine or a fax (`machine_*`, `fax`)."""
    value = (answered_by or "").strip().lower()
    return value.startswith("machine") or value == "fax"


def amd_report(answered_by: str | None) -> Report | None:
    """What an answering-machine verdict means: a machine or fax makes the call a failure
    ("voicemail"); `human` and `unknown` say nothing yet (the call's end will)."""
    if not is_machine(answered_by):
        return None
    return Report("failed", VOICEMAIL, f"answered by {answered_by}")


def call_report(call_status: str, answered_by: str | None = None) -> Report | None:
    """What a call-progress callback (`CallStatus`, and `AnsweredBy` if Twilio sent it)
    means; None for a status jiaoying does not know.

    `completed` is "delivered" only for a call a person picked up; a machine's call is
    "failed" with reason "voicemail" (and a report never moves a send backwards, so a
    `completed` after the machine verdict changes nothing).
    """
    status = call_status.strip().lower()
    if status in _SENT:
        return Report("sent")
    if status == "completed":
        return amd_report(answered_by) or Report("delivered")
    if status in _NOT_REACHED:
        return Report("failed", str(Reason.UNREACHABLE), _NOT_REACHED[status])
    return None


class TwilioVoice:
    """The "voice" channel: one Twilio call per notice, answered with key 1."""

    name = "voice"
    simulated = False

    def __init__(self, api: TwilioApi, *, from_: str, public_url: str) -> None:
        self._api = api
        self._from = from_
        self._public_url = public_url

    async def send(self, notice: Notice) -> Receipt:
        client = self._api.client()
        try:
            call = await client.calls.create_async(
                to=notice.address,
                from_=self._from,
                url=callback_url(self._public_url, VOICE_PATH, notice.key),
                status_callback=callback_url(self._public_url, CALL_STATUS_PATH, notice.key),
                status_callback_event=list(STATUS_EVENTS),
                machine_detection="DetectMessageEnd",
                async_amd="true",
                async_amd_status_callback=callback_url(self._public_url, AMD_PATH, notice.key),
                timeout=RING_SECONDS,
            )
        except (TwilioRestException, TwilioServiceException) as error:
            # Twilio's message quotes the number: only status and code travel on.
            raise classify(error.status, error.code) from None
        # DEBUG, as for SMS: the attempt row keeps the provider's id of every call.
        log.debug("call placed", key=notice.key, provider_id=call.sid, channel=self.name)
        return Receipt(provider_id=str(call.sid), status=Status.ACCEPTED)


def _say(parent: VoiceResponse | Gather, text: str, *, loop: int = 1) -> None:
    parent.say(text, language=LANGUAGE, voice=TTS_VOICE, loop=loop)


def call_twiml(notice: Notice | None, gather_action: str) -> VoiceResponse:
    """What the call says: the notice read twice in Mandarin, then "press 1".

    By default a key may interrupt the reading (the text sits inside the `<Gather>`).
    With `notice.extra["full_message"] == "1"` the `<Gather>` follows the whole text, so
    a key counts only once all of it was heard. The Gather always posts to
    `gather_action`, with no digits too, which is where a replay is decided. Unknown
    notice (None): a short apology and hang up.
    """
    response = VoiceResponse()
    if notice is None:
        _say(response, UNKNOWN)
        response.hangup()
        return response
    if notice.kind not in ANSWERABLE_KINDS:
        _say(response, notice.text, loop=2)
        response.hangup()
        return response
    gather = Gather(
        num_digits=1,
        action=gather_action,
        method="POST",
        timeout=GATHER_SECONDS,
        action_on_empty_result=True,
    )
    if notice.extra.get("full_message") == "1":
        _say(response, notice.text, loop=2)
        _say(gather, PROMPT)
    else:
        _say(gather, notice.text, loop=2)
    response.append(gather)
    return response


def replay_twiml(voice_url: str) -> VoiceResponse:
    """Start the call's text again (Twilio fetches `voice_url` with a signed POST)."""
    response = VoiceResponse()
    response.redirect(voice_url, method="POST")
    return response


def ending_twiml(text: str | None) -> VoiceResponse:
    """Say `text` (if any) and hang up."""
    response = VoiceResponse()
    if text:
        _say(response, text)
    response.hangup()
    return response
