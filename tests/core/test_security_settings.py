"""The answer page's rate and the trusted proxies: defaults, values, refusals."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from dispatcher.runtime.settings import SettingsError, load_settings


def test_by_default_120_a_minute_and_no_proxy_is_trusted() -> None:
    settings = load_settings({})
    assert settings.answer_rate == 120
    assert settings.trusted_proxies == ()


def test_a_rate_and_proxies_are_read() -> None:
    settings = load_settings(
        {
            "JIAOYING_ANSWER_RATE": " 30 ",
            "JIAOYING_TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/24,::1",
        }
    )
    assert settings.answer_rate == 30
    assert settings.trusted_proxies == (
        ip_network("10.0.0.5/32"),
        ip_network("192.168.0.0/24"),
        ip_network("::1/128"),
    )


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("JIAOYING_ANSWER_RATE", "0", "a whole number from 1"),
        ("JIAOYING_ANSWER_RATE", "fast", "a whole number from 1"),
        ("JIAOYING_TRUSTED_PROXIES", "10.0.0.5, proxy.local", "IP addresses or networks"),
        ("JIAOYING_TRUSTED_PROXIES", "10.0.0.0/33", "IP addresses or networks"),
    ],
)
def test_a_bad_value_is_refused_with_its_variable(name: str, value: str, said: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})
    assert any(
        problem.startswith(f"{name}: ") and said in problem for problem in caught.value.problems
    )
