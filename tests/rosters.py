"""Synthetic county rosters for tests and the benchmark: any size, valid, realistic shape.

Villages of 441523 (陆河县) with two grids each, one grid person per grid, a village
secretary supervising each village's grid persons and one county duty officer above them.

    python -m tests.rosters DIRECTORY GRID_PERSONS

writes one (docker-compose.yml's demo runs on it: with the stand-ins configured as its
providers, jiaoying refuses the example roster, as it would with real ones).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

COUNTY = "441523"


@dataclass(frozen=True)
class County:
    directory: Path
    grid_phones: tuple[str, ...]  # E.164, one per grid person
    supervisor_phones: tuple[str, ...]


def _phone(block: str, n: int) -> str:
    return f"+86{block}{n:08d}"


def write_county(
    directory: Path, grid_persons: int, per_village: int = 20, *, wechat: bool = False
) -> County:
    """Write grids.csv, persons.csv and broadcast_zones.csv for `grid_persons` grid persons;
    with `wechat`, every grid person has a WeChat openid too."""
    directory.mkdir(parents=True, exist_ok=True)
    villages = -(-grid_persons // per_village)
    grids_rows: list[list[object]] = []
    persons_rows: list[list[object]] = []
    zones_rows: list[list[object]] = []
    grid_phones, supervisor_phones = [], []
    persons_rows.append(["county", "县值班员", _phone("139", 0), "", "县应急管理局值班员", "", ""])
    supervisor_phones.append(_phone("139", 0))
    for v in range(villages):
        town, village = divmod(v, 900)
        village_code = f"{COUNTY}{100 + town:03d}{100 + village:03d}"
        secretary = f"sj{v:05d}"
        phone = _phone("139", v + 1)
        persons_rows.append([secretary, f"村书记{v}", phone, "", "村书记", "", "county"])
        supervisor_phones.append(phone)
        for g in range(per_village):
            n = v * per_village + g
            if n >= grid_persons:
                break
            code = f"{village_code}{g + 1:03d}"
            lat, lon = 23.0 + (v % 100) * 0.005, 115.5 + (v // 100) * 0.005 + g * 0.0002
            grids_rows.append([code, f"第{v}村第{g + 1}网格", village_code, 80, 260, lat, lon])
            # The village's loudspeakers serve all of its grids: one row per grid.
            zones_rows.append([village_code, code, f"第{v}村应急广播"])
            phone = _phone("138", n)
            openid = f"oBench{n:022d}" if wechat else ""
            persons_rows.append(
                [f"wg{n:06d}", f"网格员{n}", phone, openid, "网格员", code, secretary]
            )
            grid_phones.append(phone)
    _write(
        directory / "grids.csv",
        ["code", "name", "parent_code", "households", "population", "lat", "lon"],
        grids_rows,
    )
    _write(
        directory / "persons.csv",
        ["id", "name", "phone", "wechat_openid", "role", "grid_codes", "supervisor_id"],
        persons_rows,
    )
    _write(directory / "broadcast_zones.csv", ["zone_id", "grid_code", "name"], zones_rows)
    return County(directory, tuple(grid_phones), tuple(supervisor_phones))


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic county roster.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("grid_persons", type=int)
    parser.add_argument("--per-village", type=int, default=20)
    args = parser.parse_args()
    county = write_county(args.directory, args.grid_persons, args.per_village)
    print(f"{county.directory}: {len(county.grid_phones)} grid persons")


if __name__ == "__main__":
    main()
