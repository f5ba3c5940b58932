"""The report as one HTML page (zh-CN, print-ready, charts and map inline as SVG), from
`templates/zh-CN/report/report.html.j2`, which an operator may edit like the others."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from dispatcher.files.grid_shapes import Ring
from dispatcher.report import charts
from dispatcher.report.build import Report
from dispatcher.report.figures import GridState, Verdict
from dispatcher.report.map import STATE_COLOURS, STATE_NAMES, grid_map
from dispatcher.report.reach import Why

TEMPLATE = "zh-CN/report/report.html.j2"
BEIJING = timezone(timedelta(hours=8))
CHANNEL_NAMES = {
    "sms": "短信",
    "voice": "语音电话",
    "wechat": "微信",
    "broadcast": "应急广播",
    "link": "确认链接",
    "operator": "值班员录入",
    "supervisor": "上级代答",
    "door_knock": "入户报告",
    "grid": "同网格代答",
}
VERDICTS = {
    Verdict.MET: "达标",
    Verdict.MISSED: "未达标",
    Verdict.PENDING: "进行中",
    Verdict.ENDED: "预警已提前结束",
}
WHY = {
    Why.WRONG_NUMBER: "号码错误/空号",
    Why.REFUSED: "渠道拒收",
    Why.NO_ANSWER: "未应答",
    Why.NOTHING_SENT: "未发出通知",
}
STATUSES = {
    "active": "进行中",
    "cancelled": "已取消",
    "cleared": "已解除",
    "expired": "已过期",
    "closed": "已结束",
}
LEVELS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
# An escalation or door-knock task this much later than its step is shown as late: the
# scheduler's own lag is seconds; a minute is a call the silent grid did not get in time.
LATE_AFTER_S = 60.0


def render_report(report: Report, templates_dir: Path, shapes: Mapping[str, Sequence[Ring]]) -> str:
    """The report's HTML page."""
    environment = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["duration"] = duration
    environment.filters["beijing"] = beijing
    environment.filters["percent"] = charts.percent
    total = report.totals
    return environment.get_template(TEMPLATE).render(
        report=report,
        warning=report.warning,
        totals=total,
        level=LEVELS.get(report.warning.level, report.warning.level),
        status=STATUSES.get(report.status, report.status),
        never_reached_share=len(report.unreached) / total["persons"] if total["persons"] else None,
        gridmap=grid_map(report.grids, shapes),
        curve=charts.answer_curve(
            report.curve["persons"],
            total["persons"],
            report.curve["grids"],
            total["grids"],
            report.answer_within_s,
            _end_s(report),
        ),
        bars=charts.channel_bars(report.channels, CHANNEL_NAMES),
        states=list(GridState),
        state_names=STATE_NAMES,
        state_colours=STATE_COLOURS,
        verdicts=VERDICTS,
        why=WHY,
        channel_names=CHANNEL_NAMES,
        late_after=LATE_AFTER_S,
    )


def _end_s(report: Report) -> float:
    start = report.warning.clock_start
    end = report.warning.closed_at or report.made_at
    return max(0.0, (end - start).total_seconds())


def duration(seconds: float | None) -> str:
    """`75.5` → `1分15.5秒`; None → `—` (it never happened)."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    fraction = round(seconds - whole, 1)
    hours, rest = divmod(whole, 3600)
    minutes, second = divmod(rest, 60)
    second_text = f"{second + fraction:g}秒"
    if hours:
        return f"{hours}时{minutes:02d}分{second:02d}秒"
    if minutes:
        return f"{minutes}分{second_text}"
    return second_text


def beijing(moment: datetime | None) -> str:
    """Beijing time (UTC+8), the clock of the warning texts and the ledger."""
    if moment is None:
        return "—"
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
