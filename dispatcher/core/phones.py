"""Phone numbers: normalise them to E.164, and mask them wherever they could be shown.

A full phone number never leaves this process in a log line or an error message
(DESIGN.md, guarantee 6). `mask_phone` masks one number the way duty officers are used
to seeing it (`138****0001`); `mask_phones_in_text` finds numbers inside free text for
the log redaction processor.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

__all__ = ["PHONE_PATTERN", "mask_phone", "mask_phones_in_text", "normalise_phone"]

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short to be a phone number",
    NumberParseException.TOO_LONG: "too long to be a phone number",
}
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_CN_MOBILE_START = re.compile(r"1[3-9]")
_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "too short for its country",
    ValidationResult.TOO_LONG: "too long for its country",
    ValidationResult.INVALID_LENGTH: "wrong number of digits for its country",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}


def normalise_phone(raw: str, region: str = "CN") -> str:
    """Return `raw` as an E.164 string (`+8613800130001`).

    Numbers without a country code are read as numbers of `region`. Any number the
    `phonenumbers` metadata calls valid is accepted, landlines included (they can take
    a voice call). Raises ValueError with a reason that shows the number only masked.
    """
    text = raw.strip()
    if not text:
        raise ValueError("phone number is empty")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not a phone number")
        raise ValueError(f"phone {mask_phone(text)}: {reason}") from None
    if not phonenumbers.is_valid_number(number):
        national = str(number.national_number)
        if number.country_code == 86 and _CN_MOBILE_START.match(national) and len(national) != 11:
            # The commonest roster typo: a mobile number with a digit missing or doubled.
            reason = f"a Chinese mobile number has 11 digits, this one has {len(national)}"
        else:
            possible = phonenumbers.is_possible_number_with_reason(number)
            reason = _LENGTH_REASONS.get(possible, "not a valid number (no such number range)")
        raise ValueError(f"phone {mask_phone(text)}: {reason}")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask_phone(text_or_e164: str) -> str:
    """Mask one phone number, in any notation, for display: `+8613800130001` → `138****0001`.

    A Chinese mobile number keeps its first 3 and last 4 digits. Any other number keeps
    only its last 4 digits, and never more than half of them, so a short number is not
    shown whole. Input without digits gives `****` (empty input gives ``), so the result
    is always safe to log.
    """
    text = text_or_e164.strip()
    digits = "".join(char for char in text if char.isdecimal() and char.isascii())
    if not digits:
        return "****" if text else ""
    international = text.startswith(("+", "00"))
    if international and text.startswith("00"):
        digits = digits[2:]
    national = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    if (len(digits) == 13 or not international) and _CN_MOBILE.fullmatch(national):
        return f"{national[:3]}****{national[-4:]}"
    shown = min(4, len(digits) // 2)
    return "*" * (len(digits) - shown) + digits[len(digits) - shown :]


# Only digit runs that are complete on both sides count: a longer run is a timestamp, an
# id or an administrative code, never a phone number with something stuck to it.
PHONE_PATTERN = re.compile(
    r"(?<!\d)"
    r"(?:"
    # Chinese mobile, optionally +86 / 0086 / 86, optionally grouped 3-4-4.
    r"(?:(?:\+|00)?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}"
    r"|"
    # Any E.164 number: '+' and 8 to 15 digits.
    r"\+[1-9]\d{7,14}"
    r")"
    r"(?!\d)"
)


def _mask_match(match: re.Match[str]) -> str:
    return mask_phone(match.group())


def mask_phones_in_text(text: str) -> str:
    """Return `text` with every phone number in it masked by `mask_phone`.

    Timestamps, administrative codes (6, 9, 12 digits), grid codes and composite ids
    are left alone: only a digit run that is exactly a phone number is masked.
    """
    return PHONE_PATTERN.sub(_mask_match, text)
