"""Phone normalisation and masking: what reaches providers, and what may reach a log."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.phones import PHONE_PATTERN, mask_phone, mask_phones_in_text, normalise_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800130001", "+8613800130001"),
        ("  13800130001  ", "+8613800130001"),
        ("138 0013 0001", "+8613800130001"),
        ("138-0013-0001", "+8613800130001"),
        ("+8613900130001", "+8613900130001"),
        ("+86 139 0013 0001", "+8613900130001"),
        ("008613800130001", "+8613800130001"),
        ("(+86)13800130001", "+8613800130001"),
        ("１３８００１３０００１", "+8613800130001"),  # full-width digits typed in an IME
        ("19912345678", "+8619912345678"),
        ("020-12345678", "+862012345678"),  # a landline can still take a voice call
        ("+14155550123", "+14155550123"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_normalise_gives_e164(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


def test_normalise_reads_national_numbers_in_the_given_region() -> None:
    assert normalise_phone("(415) 555-0123", region="US") == "+14155550123"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("abc", "not a phone number"),
        ("1380013000", "11 digits, this one has 10"),
        ("138001300011", "11 digits, this one has 12"),
        ("14000000000", "not a valid number"),
        ("12345", "not a valid number"),
        ("+999123456789", "unknown country code"),
    ],
)
def test_normalise_rejects_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_phone(raw)


@pytest.mark.parametrize("raw", ["1380013000", "138001300011", "14000000000", "+999123456789"])
def test_rejection_never_echoes_the_number(raw: str) -> None:
    with pytest.raises(ValueError, match="phone") as caught:
        normalise_phone(raw)
    digits = re.sub(r"\D", "", raw)
    assert digits not in str(caught.value)
    assert digits[-4:] in str(caught.value)  # enough to find the row, not enough to call


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+8613800000001", "138****0001"),
        ("+8613800130001", "138****0001"),
        ("13800130001", "138****0001"),
        ("8613800130001", "138****0001"),
        ("008613800130001", "138****0001"),
        ("+86 138-0013-0001", "138****0001"),
        ("+14155550123", "*******0123"),  # not a Chinese mobile though it is 1 + 10 digits
        ("+862012345678", "********5678"),
        ("+442079460958", "********0958"),
        ("10086", "***86"),  # short: never more than half shown
        ("1234", "**34"),
        ("7", "*"),
        ("abc", "****"),
        ("", ""),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call 13800130001 now", "call 138****0001 now"),
        ('{"phone": "+8613800130001"}', '{"phone": "138****0001"}'),
        ("from=8613800130001&body=1", "from=138****0001&body=1"),
        ("+86 138 0013 0001 replied 收到", "138****0001 replied 收到"),
        ("0086-138-0013-0001", "138****0001"),
        ("网格员电话13900130001，请回复", "网格员电话139****0001，请回复"),
        ("tel:+14155550123;ext=1", "tel:*******0123;ext=1"),
        ("To=%2B8613800130001", "To=%2B138****0001"),
        ("a 13800130001 and b 13900130002", "a 138****0001 and b 139****0002"),
    ],
)
def test_phones_in_text_are_masked(text: str, masked: str) -> None:
    assert mask_phones_in_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "sent=2026-07-20T02:00:00+08:00",
        "2026-07-20T02:00:00.138001+08:00",
        "20260720T020000+0800",
        "id 44152341600000_20260720020000",
        "areas 44 4415 441523 441523100 441523100201",
        "grid 441523100201001 households 167",
        "ts_ms=1784512800000 ts=1784512800",
        "lat=23.30542 lon=115.64289 radius_km=13.8",
        "order 13800130001234",  # 14 digits: an id, not a phone
        "attempt 3 of 5, 138 ms",
    ],
)
def test_non_phone_numbers_are_left_alone(text: str) -> None:
    assert mask_phones_in_text(text) == text


_MOBILE_FORMATS = [
    "{n}",
    "+86{n}",
    "86{n}",
    "+86 {n}",
    "0086{n}",
    "{a} {b} {c}",
    "{a}-{b}-{c}",
    "+86 {a} {b} {c}",
]
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(
    parts=st.lists(st.tuples(st.text(max_size=12), mobiles, st.sampled_from(_MOBILE_FORMATS))),
    tail=st.text(max_size=12),
    gap=st.sampled_from([" ", ",", ":", "=", "\n", "号", '"', "("]),
)
def test_no_mobile_survives_masking(parts: list[tuple[str, str, str]], tail: str, gap: str) -> None:
    text = "".join(
        noise + gap + fmt.format(n=n, a=n[:3], b=n[3:7], c=n[7:]) + gap for noise, n, fmt in parts
    )
    masked = mask_phones_in_text(text + tail)
    for _, number, _ in parts:
        assert number not in masked
        assert number[:3] + "****" + number[-4:] in masked


# Phones, foreign numbers and digit fragments jammed together: the adversarial case.
phone_soup = st.lists(
    st.one_of(
        mobiles,
        st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True),
        st.text(alphabet="0123456789+- 86", max_size=5),
        st.text(max_size=5),
    ),
    max_size=8,
).map("".join)


@given(phone_soup)
def test_masked_text_has_no_phone_left(text: str) -> None:
    masked = mask_phones_in_text(text)
    assert PHONE_PATTERN.search(masked) is None
    assert mask_phones_in_text(masked) == masked


@given(st.text(alphabet="0123456789+ -", min_size=1, max_size=20))
def test_mask_phone_always_hides_digits(number: str) -> None:
    digits = re.sub(r"\D", "", number)
    shown = re.sub(r"\D", "", mask_phone(number))
    if digits:
        assert len(shown) < len(digits)
        assert digits not in mask_phone(number)
