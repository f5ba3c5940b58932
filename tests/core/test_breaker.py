"""The channel breaker as a table of sends and outcomes, on a clock the test moves."""

from __future__ import annotations

import pytest

from channels.base import PermanentDeliveryError, Reason, TransientDeliveryError
from dispatcher.engine.breaker import Breaker, ChannelDown

TIMEOUT = TransientDeliveryError(Reason.TIMEOUT, "no answer in 10 s")
REFUSED = TransientDeliveryError(Reason.SERVER_ERROR, "HTTP 500")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock) -> Breaker:
    return Breaker("wechat", threshold=3, cooldown=10.0, clock=clock)


def test_timeouts_in_a_row_open_it_and_its_sends_fail_at_once() -> None:
    clock = Clock()
    wechat = breaker(clock)
    for _ in range(3):
        assert wechat.before_send() is False
        wechat.answered(TIMEOUT, trial=False)
    assert wechat.is_open
    with pytest.raises(ChannelDown) as refused:
        wechat.check()
    assert refused.value.reason is Reason.TIMEOUT
    assert "not tried" in refused.value.detail


@pytest.mark.parametrize(
    "between",
    [None, REFUSED, PermanentDeliveryError(Reason.INVALID_ADDRESS, "bad openid")],
    ids=["a success", "a refusal", "a bad address"],
)
def test_any_answer_that_is_not_a_timeout_resets_the_count(
    between: TransientDeliveryError | None,
) -> None:
    clock = Clock()
    wechat = breaker(clock)
    for outcome in (TIMEOUT, TIMEOUT, between, TIMEOUT, TIMEOUT):
        wechat.answered(outcome, trial=False)
    assert not wechat.is_open


def test_refusals_alone_never_open_it() -> None:
    wechat = breaker(Clock())
    for _ in range(100):
        wechat.answered(REFUSED, trial=False)
    wechat.check()


def test_after_the_cooldown_one_send_at_a_time_tries_the_provider() -> None:
    clock = Clock()
    wechat = breaker(clock)
    for _ in range(3):
        wechat.answered(TIMEOUT, trial=False)
    clock.now = 9.9
    with pytest.raises(ChannelDown):
        wechat.before_send()
    clock.now = 10.0
    assert wechat.before_send() is True
    with pytest.raises(ChannelDown):
        wechat.before_send()  # the trial is still out
    wechat.answered(TIMEOUT, trial=True)  # still down: open for another cooldown
    clock.now = 19.9
    with pytest.raises(ChannelDown):
        wechat.check()
    clock.now = 20.0
    assert wechat.before_send() is True
    wechat.answered(None, trial=True)
    assert not wechat.is_open
    assert wechat.before_send() is False


def test_a_trial_that_ends_without_an_outcome_lets_the_next_one_try() -> None:
    clock = Clock()
    wechat = breaker(clock)
    for _ in range(3):
        wechat.answered(TIMEOUT, trial=False)
    clock.now = 10.0
    assert wechat.before_send() is True
    wechat.abandoned(trial=True)
    assert wechat.before_send() is True


def test_late_timeouts_of_sends_started_before_it_opened_do_not_extend_it() -> None:
    clock = Clock()
    wechat = breaker(clock)
    for _ in range(3):
        wechat.answered(TIMEOUT, trial=False)
    clock.now = 9.0
    wechat.answered(TIMEOUT, trial=False)
    clock.now = 10.0
    assert wechat.before_send() is True
