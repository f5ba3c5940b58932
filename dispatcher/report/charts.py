"""The geometry of the report's charts; the page's template draws it as inline SVG.

The answer curve: the share of persons answered and of grids settled, step by step over
seconds from the warning's start, with the policy's promise as a vertical line. Channel
bars: each channel's delivery and answer rate. Pure: numbers in, coordinates out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from dispatcher.core.durations import format_duration
from dispatcher.report.reach import ChannelRates

WIDTH = 640.0
HEIGHT = 260.0
LEFT, RIGHT, TOP, BOTTOM = 48.0, 16.0, 12.0, 32.0
_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800)


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True, slots=True)
class CurveChart:
    width: float
    height: float
    persons: str  # SVG polyline points
    grids: str
    promise_x: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    plot: tuple[float, float, float, float]  # left, top, right, bottom


def answer_curve(
    persons: Sequence[float],
    person_total: int,
    grids: Sequence[float],
    grid_total: int,
    promise_s: float,
    end_s: float,
) -> CurveChart:
    """Both step curves on one time axis that reaches past the promise and the last event."""
    span = max(promise_s * 1.2, end_s, *persons, *grids, 1.0)
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM

    def x(second: float) -> float:
        return round(LEFT + (right - LEFT) * second / span, 1)

    def y(share: float) -> float:
        return round(bottom - (bottom - TOP) * share, 1)

    def steps(times: Sequence[float], total: int) -> str:
        points = [(x(0), y(0))]
        for count, second in enumerate(sorted(times), start=1):
            points += [(x(second), points[-1][1]), (x(second), y(count / total if total else 0))]
        points.append((x(span), points[-1][1]))
        return " ".join(f"{px},{py}" for px, py in points)

    step = next((s for s in _NICE_STEPS if span / s <= 8), _NICE_STEPS[-1])
    x_ticks = tuple(
        Tick(x(n * step), format_duration_short(n * step)) for n in range(int(span // step) + 1)
    )
    y_ticks = tuple(Tick(y(share), f"{round(share * 100)}%") for share in (0, 0.25, 0.5, 0.75, 1))
    return CurveChart(
        WIDTH,
        HEIGHT,
        steps(persons, person_total),
        steps(grids, grid_total),
        x(promise_s),
        x_ticks,
        y_ticks,
        (LEFT, TOP, right, bottom),
    )


def format_duration_short(second: float) -> str:
    return format_duration(timedelta(seconds=round(second, 3)))


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    y: float
    delivered_width: float
    answered_width: float
    delivered: str
    answered: str


@dataclass(frozen=True, slots=True)
class BarChart:
    width: float
    height: float
    bar_left: float
    bar_span: float
    bars: tuple[Bar, ...]


def channel_bars(rates: Sequence[ChannelRates], names: dict[str, str]) -> BarChart:
    """Two bars per channel that sent anything: delivery rate, answer rate."""
    left, span, row = 120.0, 400.0, 34.0
    shown = [rate for rate in rates if rate.sends]
    bars = tuple(
        Bar(
            names.get(rate.channel, rate.channel),
            8 + index * row,
            round(span * (rate.delivery_rate or 0.0), 1),
            round(span * (rate.answer_rate or 0.0), 1),
            percent(rate.delivery_rate),
            percent(rate.answer_rate),
        )
        for index, rate in enumerate(shown)
    )
    return BarChart(WIDTH, 16 + row * max(1, len(bars)), left, span, bars)


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"
