"""What Tencent Cloud's numbers and key presses look like, without its SDK: the callback
routes need these, and a service on another provider never loads the SDK."""

from __future__ import annotations

__all__ = ["ANSWER_KEY", "VARIABLE_LIMIT", "tencent_number"]

# Tencent's variable length depends on the account (UNVERIFIED: 6, 12 or unlimited);
# 35 keeps the values the same as on Alibaba Cloud.
VARIABLE_LIMIT = 35
ANSWER_KEY = "1"


def tencent_number(address: str) -> str:
    """E.164 as Tencent Cloud prefers it (`+8613900130001`)."""
    text = address.strip()
    if text.startswith("+"):
        return text
    if text.startswith("0086"):
        return "+" + text[2:]
    return "+86" + text if len(text) == 11 else "+" + text
