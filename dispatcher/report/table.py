"""The report's figures as CSV, one row per grid, for Excel (UTF-8 with a byte-order mark,
as the ledger: Excel reads a CSV without one in the legacy code page)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from dispatcher.report.build import Report
from dispatcher.report.map import STATE_NAMES

HEADER = (
    "镇 township",
    "村 village",
    "网格编码 grid code",
    "网格 grid",
    "责任人 persons",
    "已应答 answered",
    "首次应答(秒) first answer s",
    "全员应答或入户(秒) settled s",
    "到位方式 settled by",
    "承诺时限(秒) answer within s",
    "结果 verdict",
    "升级次数 escalations",
    "入户任务 door-knock tasks",
    "当前状态 state",
    "纬度 lat",
    "经度 lon",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def grid_table(report: Report) -> str:
    """The CSV text (the caller adds the byte-order mark when encoding)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    names: Mapping[str, str] = {
        place.code: place.name
        for township in report.townships
        for place in (township.place, *(village.place for village in township.villages))
    }
    for township in report.townships:
        for village in township.villages:
            for grid in village.grids:
                writer.writerow(
                    [
                        _cell(names.get(grid.township_code, grid.township_code)),
                        _cell(names.get(grid.village_code, grid.village_code)),
                        grid.code,
                        _cell(grid.name),
                        grid.persons,
                        grid.answered,
                        _number(grid.first_answer_s),
                        _number(grid.settled_s),
                        grid.settled_by,
                        _number(report.answer_within_s),
                        grid.verdict.value,
                        grid.escalations,
                        grid.door_knocks,
                        f"{grid.state.value} {STATE_NAMES[grid.state]}",
                        _number(grid.lat),
                        _number(grid.lon),
                    ]
                )
    return out.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _cell(text: str) -> str:
    # Grid names come from spreadsheets townships edit: a cell must never run a formula.
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text
