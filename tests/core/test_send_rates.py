"""JIAOYING_SEND_RATES: each channel's provider requests per second, as the contract allows."""

from __future__ import annotations

import pytest

from dispatcher.runtime.settings import SettingsError, load_settings


def test_no_rates_given_leaves_every_channel_at_the_senders_default() -> None:
    assert load_settings({}).send_rates == {}


def test_rates_are_read_per_channel() -> None:
    settings = load_settings({"JIAOYING_SEND_RATES": " sms=1500, voice = 2.5 ,"})
    assert settings.send_rates == {"sms": 1500.0, "voice": 2.5}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("fax=10", "'fax' is not a channel (known: voice, sms, wechat, broadcast)"),
        ("sms=10,sms=20", "'sms' is given twice"),
        ("sms=0", "sms: must be channel=requests per second, above 0 (got '0')"),
        ("sms=fast", "sms: must be channel=requests per second, above 0 (got 'fast')"),
        ("sms", "sms: must be channel=requests per second, above 0 (got '')"),
        ("voice=inf", "voice: must be channel=requests per second, above 0 (got 'inf')"),
    ],
)
def test_a_bad_rate_is_named(value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"JIAOYING_SEND_RATES": value})
    assert caught.value.problems == (f"JIAOYING_SEND_RATES: {problem}",)
