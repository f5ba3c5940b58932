"""A warning's life across Alert, Update and Cancel messages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dispatcher.core.errors import InvalidWarning
from dispatcher.core.lifecycle import Change, Ending, advance, start
from dispatcher.core.model import Level
from tests.factories import make_warning

T0 = datetime(2026, 7, 20, 2, 0, tzinfo=timezone(timedelta(hours=8)))


def test_an_alert_starts_the_chain_at_its_sent() -> None:
    life = start(make_warning(level=Level.ORANGE, sent=T0, expires=timedelta(hours=6)))
    assert (life.level, life.clock_start, life.expires) == (
        Level.ORANGE,
        T0,
        T0 + timedelta(hours=6),
    )
    assert (life.revision, life.chain_revision, life.change, life.ending) == (
        0,
        0,
        Change.ALERT,
        None,
    )
    assert not life.drill


def test_a_drill_is_marked() -> None:
    assert start(make_warning(sent=T0, status="Exercise")).drill


@pytest.mark.parametrize(
    ("new_level", "all_clear", "change", "ending", "restarts"),
    [
        (Level.RED, False, Change.RESTART, None, True),
        (Level.ORANGE, False, Change.RENOTIFY, None, False),
        (Level.YELLOW, False, Change.CLEAR, Ending.CLEARED, False),
        (Level.ORANGE, True, Change.CLEAR, Ending.CLEARED, False),
    ],
)
def test_an_update_means_what_its_level_says(
    new_level: Level, all_clear: bool, change: Change, ending: Ending | None, restarts: bool
) -> None:
    life = start(make_warning(level=Level.ORANGE, sent=T0))
    sent = T0 + timedelta(minutes=30)
    update = make_warning(msg_type="Update", level=new_level, sent=sent, all_clear=all_clear)
    after = advance(life, update)
    assert (after.change, after.ending, after.level, after.revision) == (
        change,
        ending,
        new_level,
        1,
    )
    assert after.chain_revision == (1 if restarts else 0)
    assert after.clock_start == (sent if restarts else T0)


def test_an_update_replaces_the_expiry() -> None:
    life = start(make_warning(sent=T0, expires=timedelta(hours=1)))
    later = make_warning(msg_type="Update", sent=T0, expires=timedelta(hours=5))
    assert advance(life, later).expires == T0 + timedelta(hours=5)


def test_cancel_ends_the_chain_and_nothing_may_follow_it() -> None:
    life = advance(start(make_warning(sent=T0)), make_warning(msg_type="Cancel", sent=T0))
    assert (life.change, life.ending, life.revision) == (Change.CANCEL, Ending.CANCELLED, 1)
    with pytest.raises(InvalidWarning, match="already cancelled"):
        advance(life, make_warning(msg_type="Update", sent=T0))


def test_a_cleared_warning_raised_again_restarts() -> None:
    life = start(make_warning(level=Level.RED, sent=T0))
    cleared = advance(life, make_warning(msg_type="Update", level=Level.YELLOW, sent=T0))
    raised = advance(cleared, make_warning(msg_type="Update", level=Level.RED, sent=T0))
    assert (raised.change, raised.ending, raised.chain_revision) == (Change.RESTART, None, 2)


@pytest.mark.parametrize("msg_type", ["Update", "Cancel"])
def test_only_an_alert_can_start_a_chain(msg_type: str) -> None:
    with pytest.raises(InvalidWarning, match="must reference a known warning"):
        start(make_warning(msg_type=msg_type, sent=T0))


def test_an_alert_cannot_advance_a_chain() -> None:
    with pytest.raises(InvalidWarning, match="cannot reference"):
        advance(start(make_warning(sent=T0)), make_warning(sent=T0))
