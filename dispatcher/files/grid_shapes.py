"""The grids' boundaries, from an optional `grids.geojson` in the roster folder.

A GeoJSON FeatureCollection (RFC 7946, WGS84 longitude/latitude), one Feature per grid,
its grid code in `properties.code`, a Polygon or MultiPolygon. The map draws a grid with
a boundary as that shape and any other grid as a point. Only outer rings are kept: a map
coloured by state needs no holes. A file that is not such a collection is refused whole
with every problem (RosterError), never drawn half-way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dispatcher.core.errors import RosterError

SHAPES_FILE = "grids.geojson"
Ring = list[tuple[float, float]]

__all__ = ["SHAPES_FILE", "load_grid_shapes", "shapes_from_data"]


def load_grid_shapes(directory: Path) -> dict[str, list[Ring]]:
    """Grid code → its outer rings as (lon, lat); {} when the folder has no grids.geojson."""
    path = directory / SHAPES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RosterError([f"{SHAPES_FILE}: not JSON ({error})"]) from None
    return shapes_from_data(data)


def shapes_from_data(data: Any) -> dict[str, list[Ring]]:
    """The rings of a parsed GeoJSON FeatureCollection; RosterError lists every problem."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise RosterError([f"{SHAPES_FILE}: not a GeoJSON FeatureCollection"])
    problems: list[str] = []
    shapes: dict[str, list[Ring]] = {}
    for index, feature in enumerate(data.get("features") or []):
        where = f"{SHAPES_FILE}: features[{index}]"
        properties = feature.get("properties") if isinstance(feature, dict) else None
        code = str(properties.get("code", "")).strip() if isinstance(properties, dict) else ""
        if not code:
            problems.append(f"{where}: no properties.code naming its grid")
            continue
        try:
            shapes.setdefault(code, []).extend(_rings(feature.get("geometry")))
        except ValueError as error:
            problems.append(f"{where} ({code}): {error}")
    if problems:
        raise RosterError(problems)
    return shapes


def _rings(geometry: Any) -> list[Ring]:
    if not isinstance(geometry, dict):
        raise ValueError("no geometry")
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        polygons = [coordinates]
    elif kind == "MultiPolygon":
        polygons = coordinates if isinstance(coordinates, list) else [None]
    else:
        raise ValueError(f"geometry {kind!r} is not a Polygon or MultiPolygon")
    return [_ring(polygon) for polygon in polygons]


def _ring(polygon: Any) -> Ring:
    if not isinstance(polygon, list) or not polygon or not isinstance(polygon[0], list):
        raise ValueError("a polygon without an outer ring")
    ring = []
    for point in polygon[0]:
        if not (
            isinstance(point, list)
            and len(point) >= 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point[:2])
            and -180 <= point[0] <= 180
            and -90 <= point[1] <= 90
        ):
            raise ValueError(f"{point!r} is not a [longitude, latitude] position")
        ring.append((float(point[0]), float(point[1])))
    if len(ring) < 4:
        raise ValueError("an outer ring needs at least 4 positions")
    return ring
