"""The affected grids on a map of their own, coloured by state; pure.

No tile server and no internet: each grid is a point at its `lat`/`lon` from grids.csv,
or its boundary where the roster folder has a `grids.geojson`, projected onto a plane
(equirectangular, longitude shrunk by the cosine of the middle latitude, which is true
enough over a county). A grid the roster gives no place is listed beside the map.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dispatcher.report.figures import GridFigures, GridState

WIDTH = 640.0
MARGIN = 24.0
MIN_HEIGHT = 200.0
MAX_HEIGHT = 520.0
Ring = Sequence[tuple[float, float]]  # (lon, lat) pairs
STATE_NAMES = {
    GridState.ANSWERED: "已应答",
    GridState.DOOR_KNOCK: "入户中",
    GridState.ESCALATED: "已升级",
    GridState.WAITING: "等待应答",
}
STATE_COLOURS = {
    GridState.ANSWERED: "#2e7d32",
    GridState.DOOR_KNOCK: "#1565c0",
    GridState.ESCALATED: "#ef6c00",
    GridState.WAITING: "#c62828",
}


@dataclass(frozen=True, slots=True)
class MapGrid:
    code: str
    name: str
    state: GridState
    x: float
    y: float
    lat: float
    lon: float
    shape: str  # SVG path of its boundary, "" when drawn as a point


@dataclass(frozen=True, slots=True)
class GridMap:
    width: float
    height: float
    grids: tuple[MapGrid, ...]
    unplaced: tuple[GridFigures, ...]


def grid_map(grids: Sequence[GridFigures], shapes: Mapping[str, Sequence[Ring]]) -> GridMap:
    """The grids placed on a `WIDTH`-wide plane whose height follows the area's shape."""
    placed = [(g, g.lon, g.lat) for g in grids if g.lat is not None and g.lon is not None]
    corners = [(lon, lat) for _, lon, lat in placed]
    corners += [point for g, _, _ in placed for ring in shapes.get(g.code, ()) for point in ring]
    unplaced = tuple(g for g in grids if g.lat is None or g.lon is None)
    if not corners:
        return GridMap(WIDTH, 120.0, (), unplaced)
    lons = [lon for lon, _ in corners]
    lats = [lat for _, lat in corners]
    shrink = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lons) - min(lons)) * shrink, 1e-6)
    span_y = max(max(lats) - min(lats), 1e-6)
    # As large as fits both the width and a height a page or a phone can show at once.
    scale = min((WIDTH - 2 * MARGIN) / span_x, (MAX_HEIGHT - 2 * MARGIN) / span_y)
    height = round(max(span_y * scale + 2 * MARGIN, MIN_HEIGHT), 1)
    # Centre the drawing on both axes when one side of the area is much the shorter.
    offset_x = (WIDTH - span_x * scale) / 2
    offset_y = (height - span_y * scale) / 2

    def plane(lon: float, lat: float) -> tuple[float, float]:
        return (
            round(offset_x + (lon - min(lons)) * shrink * scale, 1),
            round(height - offset_y - (lat - min(lats)) * scale, 1),
        )

    drawn = []
    for grid, lon, lat in placed:
        x, y = plane(lon, lat)
        path = " ".join(
            "M" + " L".join(f"{px},{py}" for px, py in (plane(*p) for p in ring)) + " Z"
            for ring in shapes.get(grid.code, ())
            if len(ring) >= 3
        )
        drawn.append(MapGrid(grid.code, grid.name, grid.state, x, y, lat, lon, path))
    return GridMap(WIDTH, height, tuple(drawn), unplaced)


def map_view(warning_id: str, gridmap: GridMap, grids: Sequence[GridFigures]) -> dict[str, Any]:
    """The JSON of `GET /v1/warnings/{id}/map`: the plane, every grid with its state, and
    the legend, so the dashboard draws exactly what the report draws."""
    figures = {g.code: g for g in grids}

    def entry(code: str) -> dict[str, Any]:
        grid = figures[code]
        return {
            "code": code,
            "name": grid.name,
            "state": grid.state.value,
            "verdict": grid.verdict.value,
            "persons": grid.persons,
            "answered": grid.answered,
            "first_answer_s": grid.first_answer_s,
            "settled_s": grid.settled_s,
        }

    return {
        "warning_id": warning_id,
        "width": gridmap.width,
        "height": gridmap.height,
        "grids": [
            {**entry(g.code), "lat": g.lat, "lon": g.lon, "x": g.x, "y": g.y, "shape": g.shape}
            for g in gridmap.grids
        ],
        "unplaced": [entry(g.code) for g in gridmap.unplaced],
        "states": [
            {
                "state": state.value,
                "name": STATE_NAMES[state],
                "colour": STATE_COLOURS[state],
                "grids": sum(1 for g in grids if g.state is state),
            }
            for state in GridState
        ],
    }
