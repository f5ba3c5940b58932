"""A synthetic county roster for drills at scale: `jiaoying roster generate`.

Townships of villages, each village with its grids, one loudspeaker zone over all of
its grids, a village secretary (村书记) supervising its grid persons, a 包村干部 over a
few villages, a township duty officer above them and a county duty officer above all:
the example roster's chain, so the red policy's third escalation (and its door-knock)
reaches the township. A share of the grids have an A/B pair. Every phone number is taken
from Ofcom's ranges reserved for drama (020 7946 0xxx, 0113 496 0xxx …: never assigned
to anyone), so a generated roster can reach nobody, even pointed at a real provider by
mistake.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

from dispatcher.core.errors import InputError

COUNTY = "441523"
VILLAGES_PER_TOWNSHIP = 20
VILLAGES_PER_CADRE = 4  # a 包村干部 looks after a few villages for the township
# Ofcom's drama number ranges that libphonenumber knows as valid fixed lines: a thousand
# numbers each (https://www.ofcom.org.uk/phones-and-broadband/phone-numbers/numbers-for-drama).
DRAMA_BLOCKS = (
    "+44207946",
    "+44113496",
    "+44114496",
    "+44116496",
    "+44117496",
    "+44118496",
    "+44121496",
    "+44131496",
    "+44141496",
    "+44151496",
    "+44161496",
    "+44191498",
    "+44292018",
)
DRAMA_NUMBERS = len(DRAMA_BLOCKS) * 1000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余叶"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国志强海燕春梅德胜"


def drama_numbers() -> Iterator[str]:
    for block in DRAMA_BLOCKS:
        for n in range(1000):
            yield f"{block}{n:04d}"


def write_county(directory: Path, grids: int, persons: int, *, seed: int = 1) -> tuple[int, int]:
    """Write grids.csv, persons.csv and broadcast_zones.csv with `grids` grids and
    `persons` persons in all (grid persons and their supervisors); returns the counts."""
    villages = max(1, -(-grids // 5))  # about five grids a village
    townships = -(-villages // VILLAGES_PER_TOWNSHIP)
    cadres = -(-villages // VILLAGES_PER_CADRE)
    supervisors = 1 + townships + cadres + villages
    if grids < 1 or persons < grids + supervisors:
        raise InputError(
            f"{grids} grids need at least {grids + supervisors} persons "
            f"(a grid person each, {supervisors} supervisors)"
        )
    if persons > DRAMA_NUMBERS:
        raise InputError(f"at most {DRAMA_NUMBERS} persons: the drama number ranges hold no more")
    draw = random.Random(seed)  # noqa: S311 - names and coordinates, not security
    numbers = drama_numbers()
    grid_rows: list[list[object]] = []
    person_rows: list[list[object]] = []
    zone_rows: list[list[object]] = []
    person_rows.append(["XIAN-01", _name(draw), next(numbers), "", "县应急管理局值班员", "", ""])
    grid_persons = persons - supervisors
    for t in range(townships):
        township = f"{COUNTY}{100 + t:03d}"
        duty = f"T{t:03d}-ZB"
        person_rows.append([duty, _name(draw), next(numbers), "", "镇值班员", "", "XIAN-01"])
        for v in range(VILLAGES_PER_TOWNSHIP):
            index = t * VILLAGES_PER_TOWNSHIP + v
            if index >= villages:
                break
            village = f"{township}{200 + v:03d}"
            cadre = f"B{index // VILLAGES_PER_CADRE:04d}-BC"
            if index % VILLAGES_PER_CADRE == 0:
                person_rows.append([cadre, _name(draw), next(numbers), "", "包村干部", "", duty])
            secretary = f"V{index:04d}-SJ"
            person_rows.append([secretary, _name(draw), next(numbers), "", "村书记", "", cadre])
            lat, lon = 23.2 + t * 0.04 + draw.random() * 0.03, 115.5 + v * 0.01
            count = grids // villages + (index < grids % villages)
            for g in range(count):
                code = f"{village}{g + 1:03d}"
                households = draw.randint(60, 400)
                grid_rows.append(
                    [code, f"第{index}村第{g + 1}网格", village, households, households * 3,
                     f"{lat + g * 0.002:.5f}", f"{lon + g * 0.002:.5f}"]
                )  # fmt: skip
                zone_rows.append([village, code, f"第{index}村应急广播"])
    for n in range(grid_persons):
        grid_code = str(grid_rows[n % len(grid_rows)][0])
        role = "网格员" if n < len(grid_rows) else "网格员(B角)"
        secretary = f"V{_village_index(grid_code):04d}-SJ"
        openid = f"oDrill{n:022d}" if n % 3 == 0 else ""
        person_rows.append(
            [f"WG-{n:05d}", _name(draw), next(numbers), openid, role, grid_code, secretary]
        )
    directory.mkdir(parents=True, exist_ok=True)
    _write(
        directory / "grids.csv",
        ["code", "name", "parent_code", "households", "population", "lat", "lon"],
        grid_rows,
    )
    _write(
        directory / "persons.csv",
        ["id", "name", "phone", "wechat_openid", "role", "grid_codes", "supervisor_id"],
        person_rows,
    )
    _write(directory / "broadcast_zones.csv", ["zone_id", "grid_code", "name"], zone_rows)
    return len(grid_rows), len(person_rows)


def _village_index(grid_code: str) -> int:
    township = int(grid_code[6:9]) - 100
    return township * VILLAGES_PER_TOWNSHIP + int(grid_code[9:12]) - 200


def _name(draw: random.Random) -> str:
    return draw.choice(SURNAMES) + "".join(draw.choices(GIVEN, k=draw.choice((1, 2))))


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
