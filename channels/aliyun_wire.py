"""What Alibaba Cloud's numbers, ids and key presses look like, without its SDK: the
callback routes and the CLI need these, and a service on another provider never loads
the SDK (some 40 MB of modules)."""

from __future__ import annotations

import hashlib

__all__ = [
    "ANSWERABLE_KINDS",
    "ANSWER_KEY",
    "VARIABLE_LIMIT",
    "aliyun_number",
    "ivr_answer",
    "sms_provider_id",
]

# A template variable's value, SMS and TTS alike (TtsParam: all of them under 250).
VARIABLE_LIMIT = 35
# The notices a voice call may be answered on with a key.
ANSWERABLE_KINDS = frozenset({"alert", "update", "escalation", "door_knock"})
ANSWER_KEY = "1"


def aliyun_number(address: str) -> str:
    """The number as Alibaba Cloud takes and reports it: a mainland number bare (11
    digits), any other with its country code and no `+`."""
    text = address.strip()
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text.removeprefix("+")


def sms_provider_id(biz_id: str, phone_number: str) -> str:
    """The provider id of one person's SMS of a batch: its `BizId` and a digest of the
    number, as its receipt's `biz_id` and `phone_number` give them again."""
    digest = hashlib.sha256(aliyun_number(phone_number).encode()).hexdigest()[:12]
    return f"{biz_id}:{digest}"


def ivr_answer(dtmf: object) -> bool:
    """True when a report's `dtmf` (the keys pressed, in order) holds the answer key."""
    return ANSWER_KEY in str(dtmf or "")
