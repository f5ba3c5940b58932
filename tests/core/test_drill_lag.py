"""A drill tells how far behind its clock the service made the escalations, and says so
when the machine did not keep the pace: a county must not read its machine's lateness
as its people's silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatcher.cli.drill import lag_lines
from dispatcher.drill.outcome import step_lag

START = datetime(2026, 7, 20, 13, 30, tzinfo=UTC)
AFTER = {0: timedelta(0), 2: timedelta(minutes=2), 4: timedelta(minutes=5)}


def made(seconds_late: float, step: int) -> datetime:
    return START + AFTER[step] + timedelta(seconds=seconds_late)


def test_each_escalation_is_weighed_against_its_own_step() -> None:
    escalated = {
        (1, "c1s2"): made(1, 2),
        (2, "c1s2"): made(3, 2),
        (3, "c1s4"): made(40, 4),
        (4, "c2s4"): made(200, 4),  # a later chain revision, the same step times
        (5, "zone:441523101201"): START + timedelta(hours=1),  # a gong: no step
        (6, "r2"): START + timedelta(hours=1),  # an update's notice: no step
        (7, "c1s9"): START + timedelta(hours=1),  # a step this policy does not have
    }
    assert step_lag(escalated, AFTER, START) == {
        "p50": 40.0,
        "p99": 200.0,
        "max": 200.0,
        "escalations": 4,
    }


def test_an_early_escalation_counts_as_on_time() -> None:
    # A silent person's supervisor called at once (the warning came in late): not negative.
    assert step_lag({(1, "c1s4"): START}, AFTER, START) == {
        "p50": 0.0,
        "p99": 0.0,
        "max": 0.0,
        "escalations": 1,
    }


def test_nothing_escalated_says_nothing() -> None:
    assert step_lag({}, AFTER, START) is None
    assert lag_lines(None) == []


def test_a_machine_that_fell_behind_is_named() -> None:
    kept = lag_lines({"p50": 2.0, "p99": 20.0, "max": 70.0, "escalations": 500})
    assert kept == [
        "escalations 500: made after their step fell due by p50 2 s, p99 20 s, max 70 s"
        " (drill time)"
    ]
    behind = lag_lines({"p50": 95.0, "p99": 140.0, "max": 150.0, "escalations": 500})
    assert len(behind) == 2 and "did not keep the drill's pace" in behind[1]
    assert "--speed" in behind[1]
