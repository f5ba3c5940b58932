"""The map draws a grid's boundary where the roster folder has a grids.geojson, and falls
back to points, never to an error, when that file is broken: the duty officer must still
see which grids are silent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.engine.conftest import TOKEN, Jiaoying
from tests.engine.test_status_api import Api

PEOPLE_S_FIRST = "441523100001001"  # 人民社区第一网格, at 23.28721, 115.66518


@pytest.fixture
def extra_settings(tmp_path: Path) -> dict[str, str]:
    return {"JIAOYING_ROSTER_DIR": str(tmp_path)}


def boundary(tmp_path: Path) -> None:
    ring = [[115.662, 23.285], [115.668, 23.285], [115.668, 23.290], [115.662, 23.290]]
    feature = {
        "type": "Feature",
        "properties": {"code": PEOPLE_S_FIRST, "name": "人民社区第一网格"},
        "geometry": {"type": "MultiPolygon", "coordinates": [[[*ring, ring[0]]]]},
    }
    collection = {"type": "FeatureCollection", "features": [feature]}
    (tmp_path / "grids.geojson").write_text(json.dumps(collection), encoding="utf-8")


async def test_boundaries_from_the_roster_folder_and_points_when_they_are_broken(
    jiaoying: Jiaoying, tmp_path: Path
) -> None:
    api = Api(jiaoying)
    boundary(tmp_path)
    warning_id = (await jiaoying.post("red-rainstorm.xml"))["id"]
    served = await api.get(f"/v1/warnings/{warning_id}/map")
    shapes = {grid["code"]: grid["shape"] for grid in served["grids"]}
    assert shapes[PEOPLE_S_FIRST].startswith("M") and shapes[PEOPLE_S_FIRST].endswith(" Z")
    assert shapes[PEOPLE_S_FIRST].count(" L") == 4, "a closed ring of five positions"
    assert {code for code, shape in shapes.items() if shape} == {PEOPLE_S_FIRST}
    response = await jiaoying.client.get(
        f"/v1/warnings/{warning_id}/report", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    page = await response.text()
    drawn = re.findall(r'<path d="M[^"]+ Z" [^>]*data-code="(\d+)"', page)
    assert drawn == [PEOPLE_S_FIRST], "the report draws the same boundary"

    (tmp_path / "grids.geojson").write_text('{"type": "FeatureCollection", "features": [', "utf-8")
    served = await api.get(f"/v1/warnings/{warning_id}/map")
    assert all(grid["shape"] == "" for grid in served["grids"]), "points, still every grid"
    assert len(served["grids"]) == len(shapes)
